import Foundation
import SSHTestSupport
import Testing

/// `fleetsh keyscan`: the trust step, checked against ssh-keygen.
@Suite("fleetsh keyscan", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct FleetshKeyScanTests {
    @Test(
        "new keys shown with ssh-keygen's fingerprints, written only with --accept (found by ssh-keygen -F), then trusted; a changed key is never written",
        arguments: ["libssh2", "libssh"])
    func trustStep(engine: String) async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            // A known-hosts file of the operator's own, empty at first.
            let knownHosts = site.directory + "/known_hosts"
            try "".write(toFile: knownHosts, atomically: true, encoding: .utf8)
            let config = try String(contentsOfFile: site.config, encoding: .utf8)
                .replacingOccurrences(
                    of: "UserKnownHostsFile \(TestKeys.shared.knownHosts)", with: "UserKnownHostsFile \(knownHosts)")
            try config.write(toFile: site.config, atomically: true, encoding: .utf8)
            let fingerprint = try await offPool {
                try ProcessRunner.run(["/usr/bin/ssh-keygen", "-l", "-f", TestKeys.shared.hostKey + ".pub"])
            }
            .split(separator: " ")[1]
            let refused = try await Fleetsh.run(["-F", site.config, "--engine", engine, "-H", "web1", "--", "true"])
            #expect(refused.status == 3, "unknown keys are refused before trusting: \(refused.stderr)")
            // The way to trust it is the tool's own step, not the library's acceptNew mode.
            #expect(
                refused.stderr.contains("run: fleetsh keyscan -H web1 --accept")
                    && !refused.stderr.contains("acceptNew"),
                "\(refused.stderr)")

            let shown = try await Fleetsh.run(["keyscan", "--engine", engine, "-F", site.config, "-H", "web[1-3]"])
            #expect(shown.status == 3, "new keys left untrusted: \(shown.stderr)")
            #expect(
                shown.lines == [
                    "web1 ED25519 \(fingerprint) new", "web2 ED25519 \(fingerprint) new",
                    "web3 ED25519 \(fingerprint) new",
                ])
            #expect(try String(contentsOfFile: knownHosts, encoding: .utf8).isEmpty, "nothing written without --accept")
            let authLines = site.servers.flatMap {
                $0.log.split(separator: "\n").filter { $0.contains("Accepted") || $0.contains("Failed") }
            }
            #expect(authLines.isEmpty, "no authentication was tried: \(authLines)")

            let written = try await Fleetsh.run([
                "keyscan", "--engine", engine, "-F", site.config, "-H", "web[1-3]", "--accept",
            ])
            #expect(written.status == 0, "\(written.stderr)")
            for server in site.servers {
                let found = try await offPool {
                    try ProcessRunner.outcome([
                        "/usr/bin/ssh-keygen", "-F", "[\(server.host)]:\(server.port)", "-f", knownHosts,
                    ])
                }
                #expect(
                    found.status == 0 && found.output.contains("ssh-ed25519"),
                    "ssh-keygen -F finds \(server.host): \(found.output)")
            }
            let again = try await Fleetsh.run(["keyscan", "--engine", engine, "-F", site.config, "-H", "web[1-3]"])
            #expect(again.status == 0 && again.lines.allSatisfy { $0.hasSuffix(" known") }, "\(again.lines)")
            // A host that cannot be reached: its failure in words, as a run's, and whole with -v.
            let dead = "127.0.0.4:\(try FreePort.find(host: "127.0.0.4"))"
            for verbose in [false, true] {
                let failed = try await Fleetsh.run(
                    ["keyscan", "--engine", engine, "-F", site.config, "-H", dead] + (verbose ? ["-v"] : []))
                #expect(failed.status == 2, "\(failed.stderr)")
                #expect(
                    failed.stderr.hasPrefix("fleetsh: \(dead): ")
                        && failed.stderr.contains("Connection refused")
                        && failed.stderr.contains("SSHError.connectionRefused") == verbose,
                    "\(failed.stderr)")
            }
            let run = try await Fleetsh.run(["-F", site.config, "--engine", engine, "-H", "web[1-3]", "--", "echo ok"])
            #expect(run.status == 0 && run.lines.count == 3, "\(run.stderr)")
            // Through a jump host: the hop is checked and logged into as usual, the target's key is the one scanned.
            let hop = site.servers[1]
            let loginsBefore = hop.log.components(separatedBy: "Accepted publickey").count
            let jumped = try await Fleetsh.run([
                "keyscan", "--engine", engine, "-F", site.config, "-J",
                "\(TestUser.name)@\(hop.host):\(hop.port)", "-H", "web1",
            ])
            #expect(
                jumped.status == 0 && jumped.lines == ["web1 ED25519 \(fingerprint) known"],
                "\(jumped.lines) \(jumped.stderr)")
            #expect(
                hop.log.components(separatedBy: "Accepted publickey").count == loginsBefore + 1,
                "the hop was passed, not scanned")

            // A host known under one key presents another: shown as CHANGED, never written, even with --accept.
            let impostor = try await TestSSHServer.start(
                host: "127.0.0.4", hostKeys: [TestKeys.shared.otherHostKeys.ed25519])
            defer { impostor.stop() }
            let realKey = try String(contentsOfFile: TestKeys.shared.hostKey + ".pub", encoding: .utf8)
                .split(separator: " ").prefix(2).joined(separator: " ")
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: knownHosts))
            handle.seekToEndOfFile()
            handle.write(Data("[\(impostor.host)]:\(impostor.port) \(realKey)\n".utf8))
            try handle.close()
            let before = try String(contentsOfFile: knownHosts, encoding: .utf8)
            let changed = try await Fleetsh.run([
                "keyscan", "--engine", engine, "-F", site.config, "-H", "\(impostor.host):\(impostor.port)", "--accept",
            ])
            #expect(changed.status == 3)
            #expect(changed.lines.count == 1 && changed.lines[0].hasSuffix(" CHANGED"), "\(changed.lines)")
            #expect(try String(contentsOfFile: knownHosts, encoding: .utf8) == before)
        }
    }
}
