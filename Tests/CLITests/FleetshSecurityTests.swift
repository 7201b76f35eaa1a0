import Foundation
import SSHTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// The threats of docs/reliability.md as `fleetsh` meets them; `ssh` with the same arguments is the oracle where it
// has an answer. Each test failed before the change that stops its threat.

@Suite("Threat: a host or user name runs a command (fleetsh)", .timeLimit(.minutes(5)))
struct FleetshNameInjectionThreatTests {
    @Test("-H names that would run a command through ProxyCommand or Match exec are refused, as ssh refuses them")
    func refusedLikeSSH() async throws {
        let dir = try scratchDirectory("fleetsh-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = dir + "/pwned"
        let config = dir + "/ssh_config"
        try "Match exec \"true %h %r\"\n    Port 2222\n".write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        let names = [
            "a$(touch \(marker))", "a`touch \(marker)`", "a|touch \(marker)", "a;touch \(marker)",
            "u$(touch \(marker))@h", "u`touch \(marker)`@h",
        ]
        for name in names {
            let ours = try await Fleetsh.run([
                "-F", "none", "-o", "ProxyCommand=true %h %r %p", "-H", name, "--", "true",
            ])
            #expect(
                ours.status == 64 && ours.stderr.contains("invalid character"), "\(name): \(ours.status) \(ours.stderr)"
            )
            let listed = try await Fleetsh.run(["-F", config, "-H", name, "--list-hosts", "--show-config"])
            #expect(listed.status == 64, "\(name): --show-config \(listed.status) \(listed.stderr)")
            let ssh = try await offPool {
                try ProcessRunner.outcome([
                    "/usr/bin/ssh", "-F", "none", "-o", "ProxyCommand=true %h %r %p", name, "true",
                ])
            }
            #expect(
                ssh.status == 255 && ssh.output.contains("contains invalid characters"), "ssh on \(name): \(ssh.output)"
            )
        }
        // A leading '-' (it would reach a proxy as an option), from a hosts file.
        let hosts = dir + "/hosts"
        try "-oProxyCommand=touch\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let dashed = try await Fleetsh.run(["-F", "none", "-f", hosts, "--", "true"])
        #expect(dashed.status == 64 && dashed.stderr.contains("starts with '-'"), "\(dashed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "an injected name ran a command")
    }
}

@Suite("Threat: a host name writes outside the local directory (fleetsh)", .timeLimit(.minutes(5)))
struct FleetshHostPathThreatTests {
    @Test("an ssh_config alias '..': fetch and --outdir write inside their directories, under '_..'")
    func dotDotAlias() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let server = site.servers[0]
        let text = try String(contentsOfFile: site.config, encoding: .utf8)
        try ("Host ..\n    HostName \(server.host)\n    Port \(server.port)\n" + text)
            .write(toFile: site.config, atomically: true, encoding: .utf8)
        let remote = site.directory + "/remote-file"
        try "fetched\n".write(toFile: remote, atomically: true, encoding: .utf8)
        chmod(remote, 0o644)
        let into = site.directory + "/into/sub"
        try FileManager.default.createDirectory(atPath: into, withIntermediateDirectories: true)
        let fetched = try await Fleetsh.run(["fetch", "-F", site.config, "-H", "..", remote, into])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(FileManager.default.fileExists(atPath: into + "/_../remote-file"))
        #expect(
            !FileManager.default.fileExists(atPath: site.directory + "/into/remote-file"),
            "fetch wrote outside its directory")

        let outdir = site.directory + "/out"
        try FileManager.default.createDirectory(atPath: outdir, withIntermediateDirectories: true)
        let run = try await Fleetsh.run(["-F", site.config, "-H", "..", "--outdir", outdir, "--", "echo hi"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: outdir + "/_..", encoding: .utf8) == "hi\n")
    }
}

@Suite("Threat: a trust step that says it wrote what it did not (fleetsh keyscan)", .timeLimit(.minutes(5)))
struct FleetshKeyScanWriteThreatTests {
    @Test(
        "--accept into a known-hosts file that cannot be written: the error names the file, no 'wrote', exit 3",
        arguments: ["libssh2", "libssh"])
    func unwritable(engine: String) async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let config = try String(contentsOfFile: site.config, encoding: .utf8)
            .replacingOccurrences(
                of: "UserKnownHostsFile \(TestKeys.shared.knownHosts)",
                with: "UserKnownHostsFile /proc/pssh-no-such-dir/known_hosts")
        try config.write(toFile: site.config, atomically: true, encoding: .utf8)
        let result = try await Fleetsh.run(["keyscan", "--engine", engine, "-F", site.config, "-H", "web1", "--accept"])
        #expect(result.status == 3, "\(result.status): \(result.stderr)")
        #expect(!result.stderr.contains("wrote 1"), "\(result.stderr)")
        #expect(result.stderr.contains("/proc/pssh-no-such-dir/known_hosts"), "\(result.stderr)")
    }
}

@Suite("Threat: checking off hides a changed host key (fleetsh)", .timeLimit(.minutes(5)))
struct FleetshInsecureThreatTests {
    @Test(
        "--insecure-no-host-key-check and a changed key: the man-in-the-middle warning, as ssh prints it; nothing written",
        arguments: ["libssh2", "libssh"])
    func warned(engine: String) async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let other = TestKeys.shared.contents(of: TestKeys.shared.otherHostKeys.ed25519 + ".pub").split(separator: " ")
        let known = site.directory + "/known_hosts"
        let server = site.servers[0]
        let line = "[\(server.host)]:\(server.port) \(other[0]) \(other[1])\n"
        try line.write(toFile: known, atomically: true, encoding: .utf8)
        let config = try String(contentsOfFile: site.config, encoding: .utf8)
            .replacingOccurrences(
                of: "UserKnownHostsFile \(TestKeys.shared.knownHosts)", with: "UserKnownHostsFile \(known)")
        try config.write(toFile: site.config, atomically: true, encoding: .utf8)
        let result = try await Fleetsh.run([
            "--engine", engine, "-F", site.config, "--insecure-no-host-key-check",
            "-H", "web1", "--", "echo in",
        ])
        #expect(result.status == 0 && result.lines == ["web1: in"], "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(result.stderr)")
        #expect(result.stderr.contains("disabled to avoid man-in-the-middle attacks"), "\(result.stderr)")
        let ssh = try await offPool {
            try ProcessRunner.outcome([
                "/usr/bin/ssh", "-F", site.config, "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes",
                "web1", "echo in",
            ])
        }
        #expect(ssh.output.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "ssh warns too: \(ssh.output)")
        #expect(try String(contentsOfFile: known, encoding: .utf8) == line, "the changed key is not written")
    }
}

@Suite("Threat: output without newlines exhausts fleetsh", .timeLimit(.minutes(5)))
struct FleetshLineCapThreatTests {
    @Test("3 MB without a newline: printed as prefixed pieces of at most 1 MiB that add up to the whole")
    func longLine() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let result = try await Fleetsh.run([
            "-F", site.config, "-H", "web1", "--", "head -c 3000000 /dev/zero | tr '\\0' a",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let pieces = result.lines.map { $0.hasPrefix("web1: ") ? $0.dropFirst(6).count : -1 }
        #expect(
            pieces.count == 3 && pieces.allSatisfy { $0 > 0 && $0 <= 1 << 20 } && pieces.reduce(0, +) == 3_000_000,
            "\(pieces)")
    }
}

@Suite("Threat: a stopped fetch leaves partial files", .timeLimit(.minutes(5)))
struct FleetshPartialFileThreatTests {
    @Test("SIGTERM during fetch: exit 143, no .part file left", arguments: ["libssh2", "libssh"])
    func sigterm(engine: String) async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let big = site.directory + "/big"
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        truncate(big, 8 << 30)  // sparse: long to read, nothing on disk
        chmod(big, 0o644)
        let into = site.directory + "/into"
        try FileManager.default.createDirectory(atPath: into, withIntermediateDirectories: true)
        let process = try ChildProgram.start([
            Fleetsh.path, "fetch", "--engine", engine, "-F", site.config, "-H", "web1", big, into,
        ])
        // Wait for the event: the download's temporary file appears.
        let appeared = try await offPool { () -> Bool in
            for _ in 0..<1200 {
                if partFiles(in: into).count == 1 { return true }
                if !process.isRunning { return false }
                usleep(50_000)
            }
            return false
        }
        #expect(appeared, "the download never started")
        process.send(SIGTERM)
        let termination = try await offPool { process.wait() }
        #expect(termination == .exit(143), "\(termination)")
        #expect(partFiles(in: into).isEmpty, "left behind: \(partFiles(in: into))")
    }

    private func partFiles(in directory: String) -> [String] {
        (FileManager.default.subpaths(atPath: directory) ?? []).filter { $0.hasSuffix(".part") }
    }
}
