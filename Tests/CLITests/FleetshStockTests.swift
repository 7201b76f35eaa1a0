import Foundation
import SSHTestSupport
import Testing

/// fleetsh where users live: without `--engine` it connects wherever `ssh` does.
@Suite("fleetsh in stock environments", .timeLimit(.minutes(5)))
struct FleetshStockTests {
    @Test(
        "without --engine, an RSA user key connects as with ssh (libssh2 1.10, named explicitly, cannot sign with SHA-2)"
    )
    func defaultEngineRSA() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let config = try String(contentsOfFile: site.config, encoding: .utf8)
            .replacingOccurrences(
                of: "IdentityFile \(TestKeys.shared.ed25519)", with: "IdentityFile \(TestKeys.shared.rsa)")
        try config.write(toFile: site.config, atomically: true, encoding: .utf8)
        let ssh = try await offPool {
            try ProcessRunner.outcome(["/usr/bin/ssh", "-F", site.config, "-o", "BatchMode=yes", "web1", "echo ok"])
        }
        #expect(ssh.status == 0, "ssh, the oracle, connects: \(ssh.output)")
        let ours = try await Fleetsh.run(["-F", site.config, "-H", "web1", "--", "echo ok"])
        #expect(ours.status == 0 && ours.lines == ["web1: ok"], "\(ours.stdout) \(ours.stderr)")
        let libssh2 = try await Fleetsh.run(["-F", site.config, "--engine", "libssh2", "-H", "web1", "--", "echo ok"])
        #expect(libssh2.status != 0 && libssh2.stderr.contains("SHA-1"), "\(libssh2.stderr)")
    }

    @Test("without --engine, TinySSH (chacha20-poly1305 only) answers, as with ssh")
    func defaultEngineTinySSH() async throws {
        if let reason = InteropServer.Kind.tinyssh.unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
        let server = try await InteropServer.shared(.tinyssh)
        let dir = try scratchDirectory("fleetsh-tinyssh")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/ssh_config"
        try """
        Host tiny
            HostName \(server.host)
            Port \(server.port)
            User \(server.user)
            IdentityFile \(TestKeys.shared.ed25519)
            IdentitiesOnly yes
            UserKnownHostsFile \(TestKeys.shared.knownHosts)
            GlobalKnownHostsFile /dev/null

        """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        let ssh = try await offPool {
            try ProcessRunner.outcome(["/usr/bin/ssh", "-F", config, "-o", "BatchMode=yes", "tiny", "echo ok"])
        }
        #expect(ssh.status == 0, "ssh, the oracle, connects: \(ssh.output)")
        let ours = try await Fleetsh.run(["-F", config, "-H", "tiny", "--", "echo ok"])
        #expect(ours.status == 0 && ours.lines == ["tiny: ok"], "\(ours.stdout) \(ours.stderr)")
    }

    @Test(
        "-A forwards the agent of SSH_AUTH_SOCK as ssh -A does (the host's ssh-add -l lists its key); -a and the default do not; -A with --engine libssh2 is a usage error"
    )
    func agentForwarding() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let agent = try await TestAgent.start(keys: [TestKeys.shared.ed25519])
        defer { agent.stop() }
        let environment = ["SSH_AUTH_SOCK": agent.socketPath]
        let ssh = try await offPool {
            try ProcessRunner.outcome(
                ["/usr/bin/ssh", "-F", site.config, "-A", "-o", "BatchMode=yes", "web1", "ssh-add -l"],
                environment: environment)
        }
        #expect(ssh.status == 0 && ssh.output.contains("(ED25519)"), "ssh -A, the oracle: \(ssh.output)")
        let forwarded = try await Fleetsh.run(
            ["-F", site.config, "-A", "-H", "web1", "--", "ssh-add -l"], environment: environment)
        #expect(forwarded.status == 0 && forwarded.lines == ["web1: " + ssh.output.trimmingCharacters(in: .newlines)])
        for flags in [["-A", "-a"], []] {
            let plain = try await Fleetsh.run(
                ["-F", site.config] + flags + ["-H", "web1", "--", "ssh-add -l; echo $?"], environment: environment)
            #expect(plain.lines.last == "web1: 2", "\(flags): \(plain.stdout) \(plain.stderr)")
        }
        let libssh2 = try await Fleetsh.run(
            ["-F", site.config, "--engine", "libssh2", "-A", "-H", "web1", "--", "true"], environment: environment)
        #expect(libssh2.status == 64 && libssh2.stderr.contains("use the default engine, libssh"), "\(libssh2.stderr)")
    }
}
