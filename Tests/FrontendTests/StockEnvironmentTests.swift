import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A client where users live: a Debian-style `/etc/ssh/ssh_config` (its `Include`, `SendEnv LANG LC_*`,
/// `HashKnownHosts yes`, `GSSAPIAuthentication yes`), a developer's `~/.ssh/config` with keywords no library acts
/// on, `LANG` and `LC_*` set, an agent full of keys the server refuses, and servers as shipped (no `AcceptEnv`,
/// OpenSSH's default `MaxAuthTries 6`). OpenSSH's `ssh`, given the same files and environment, decides what should
/// connect.
@Suite("Stock environments", .timeLimit(.minutes(10)))
struct StockEnvironmentTests {
    /// A pair of configuration files, as a stock machine and a developer would have them, for `server`.
    struct Files {
        let directory: String
        let system: String
        let user: String
        /// One file with the user's lines, then the system's: what `ssh -F` reads for the same result.
        let combined: String
        let agent: TestAgent

        static func make(host: String, port: Int, user: String) throws -> Files {
            let dir = try scratchDirectory("stock")
            try FileManager.default.createDirectory(atPath: dir + "/ssh_config.d", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/config.d", withIntermediateDirectories: true)
            // Debian 12's /etc/ssh/ssh_config, comments left out, its Include pointed at this directory.
            let system = """
                Include \(dir)/ssh_config.d/*.conf
                Host *
                    SendEnv LANG LC_*
                    HashKnownHosts yes
                    GSSAPIAuthentication yes

                """
            try "# a drop-in that sets nothing\n".write(
                toFile: dir + "/ssh_config.d/10-local.conf", atomically: true, encoding: .utf8)
            try "Host stock-extra\n    ServerAliveCountMax 5\n".write(
                toFile: dir + "/config.d/extra", atomically: true, encoding: .utf8)
            // Refused keys in the agent: more than sshd's MaxAuthTries (6).
            var refused: [String] = []
            for index in 0..<7 {
                let path = "\(dir)/refused\(index)"
                try ProcessRunner.run(["/usr/bin/ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", path])
                refused.append(path)
            }
            let agent = try TestAgent(keys: refused)
            // A control path of this test's own: the Dropbear and TinySSH cases of both engines share one server, and
            // ssh processes started at once on one ControlPath race to become its master; a loser exits 255 saying
            // nothing at LogLevel ERROR (4 at once, 25 rounds: 7 of 100 failed; with a path each, none). Short,
            // since ssh appends 17 characters and a socket path holds 107.
            let controlPath = "/tmp/pssh-cm-\(UUID().uuidString.prefix(8))-%C"
            let userText = """
                IgnoreUnknown UseKeychain
                Host stock
                    HostName \(host)
                    Port \(port)
                    User \(user)
                Host *
                    UseKeychain yes
                    AddKeysToAgent yes
                    ControlMaster auto
                    ControlPath \(controlPath)
                    ControlPersist 1
                    ForwardAgent yes
                    ServerAliveInterval 30
                    LogLevel ERROR
                    IdentityAgent \(agent.socketPath)
                    UserKnownHostsFile \(TestKeys.shared.knownHosts)
                    GlobalKnownHostsFile /dev/null
                Include \(dir)/config.d/*

                """
            let files = Files(
                directory: dir, system: dir + "/ssh_config", user: dir + "/config", combined: dir + "/combined",
                agent: agent)
            try system.write(toFile: files.system, atomically: true, encoding: .utf8)
            try userText.write(toFile: files.user, atomically: true, encoding: .utf8)
            try (userText + system).write(toFile: files.combined, atomically: true, encoding: .utf8)
            for path in [files.system, files.user, files.combined] { chmod(path, 0o600) }
            return files
        }

        func remove() {
            agent.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// The server of `kind` as shipped: OpenSSH with its defaults (MaxAuthTries 6, no AcceptEnv), the others as
    /// the interoperability suite runs them.
    private static func server(_ kind: InteropServer.Kind) async throws -> (
        host: String, port: Int, user: String, stop: @Sendable () -> Void
    ) {
        if let reason = kind.unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
        if kind == .openssh {
            let server = try await TestSSHServer.start(host: "127.0.0.9", extraConfig: ["MaxAuthTries 6"])
            return (server.host, server.port, TestUser.name, { server.stop() })
        }
        let server = try await InteropServer.shared(kind)
        return (server.host, server.port, server.user, {})
    }

    static let cases: [(InteropServer.Kind, FrontendEngine)] = InteropServer.Kind.allCases.flatMap { kind in
        FrontendEngine.all.map { (kind, $0) }
    }

    @Test(
        "the README's first example where users live: connects wherever ssh does, the given key offered before the agent's",
        arguments: cases)
    func connectsWhereSSHDoes(kind: InteropServer.Kind, engine: FrontendEngine) async throws {
        let server = try await Self.server(kind)
        defer { server.stop() }
        let files = try await offPool { try Files.make(host: server.host, port: server.port, user: server.user) }
        defer { files.remove() }
        let environment = ["LANG": "C.UTF-8", "LC_TIME": "C.UTF-8"]
        // ssh offers the agent's keys before -i's (sshconnect2.c pubkey_prepare) and would be cut off by MaxAuthTries
        // here, so the oracle judges the environment without the agent; the client goes further and connects with it.
        let ssh = try await offPool {
            try ProcessRunner.outcome(
                [
                    "/usr/bin/ssh", "-F", files.combined, "-i", TestKeys.shared.ed25519, "-o", "BatchMode=yes",
                    "-o", "IdentityAgent=none", "stock", "echo ok",
                ], environment: environment)
        }
        #expect(ssh.status == 0 && ssh.output.contains("ok"), "ssh, the oracle, connects: \(ssh.output)")

        let config = HostConfig(
            privateKey: .file(TestKeys.shared.ed25519), connectionAttempts: 1, timeout: .seconds(30),
            sshConfig: SSHConfigSource(userFile: files.user, systemFile: files.system))
        let client = try ParallelSSHClient(hosts: ["stock"], backend: engine.backend, config: config)
        if kind == .tinyssh && engine.backend.name == "libssh2" {
            // libssh2 1.10 shares no cipher with TinySSH: the one case ssh connects and this engine cannot, said so.
            let error = await #expect(throws: SSHError.self) { _ = try await client.runCommand("echo ok") }
            #expect(error?.message.contains("use the libssh engine") == true, "\(error.map { "\($0)" } ?? "")")
            return
        }
        let output = try await client.runCommand("echo ok")
        var lines: [String] = []
        for try await line in output[0].stdout { lines.append(line) }
        #expect(lines == ["ok"], "\(lines)")
        try await client.join()
        #expect(output[0].exitCode == 0)
        await client.disconnect()
    }

    @Test(
        "the default client (libssh) connects with an RSA user key (ed25519 to TinySSH, which has no RSA) wherever ssh does",
        arguments: InteropServer.Kind.allCases)
    func defaultEngineConnects(kind: InteropServer.Kind) async throws {
        let server = try await Self.server(kind)
        defer { server.stop() }
        let key = kind == .tinyssh ? TestKeys.shared.ed25519 : TestKeys.shared.rsa
        let ssh = try await offPool {
            try ProcessRunner.outcome([
                "/usr/bin/ssh", "-F", TestKeys.shared.sshConfig, "-i", key, "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-p", "\(server.port)", "\(server.user)@\(server.host)", "echo ok",
            ])
        }
        #expect(ssh.status == 0, "ssh, the oracle, connects with the RSA key: \(ssh.output)")
        // What `import ParallelSSH` and `fleetsh` use without naming an engine.
        let engine = FrontendEngine.all.first { $0.backend.name == "libssh" }!
        let client = try SSHClient(
            host: server.host, backend: engine.backend,
            config: HostConfig(
                user: server.user, port: server.port, privateKey: .file(key), connectionAttempts: 1,
                allowAgent: false, identityAuth: false, hostKeyPolicy: TestKeys.shared.hostKeyPolicy,
                sshConfig: machineConfig(TestKeys.shared.sshConfig)))
        let output = try await client.runCommand("echo ok")
        #expect(try await output.stdout.first { _ in true } == "ok")
        await client.disconnect()
    }

    @Test(
        "a server with a pre-authentication Banner: the output is exactly the command's; the banner is the caller's",
        arguments: FrontendEngine.all)
    func banner(engine: FrontendEngine) async throws {
        let dir = try scratchDirectory("banner")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = "Authorized use only.\nAll activity is logged.\n"
        try text.write(toFile: dir + "/banner", atomically: true, encoding: .utf8)
        chmod(dir + "/banner", 0o644)
        let server = try await TestSSHServer.start(host: "127.0.0.9", extraConfig: ["Banner \(dir)/banner"])
        defer { server.stop() }
        let ssh = try await offPool {
            try ProcessRunner.outcome([
                "/usr/bin/ssh", "-F", TestKeys.shared.sshConfig, "-i", TestKeys.shared.ed25519,
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-p", "\(server.port)",
                "\(TestUser.name)@\(server.host)", "echo ok",
            ])
        }
        #expect(ssh.status == 0 && ssh.output.contains("Authorized use only."), "ssh prints the banner: \(ssh.output)")
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let output = try await client.runCommand("echo ok")
        var stdout: [String] = []
        for try await line in output.stdout { stdout.append(line) }
        var stderr: [String] = []
        for try await line in output.stderr { stderr.append(line) }
        #expect(stdout == ["ok"] && stderr.isEmpty, "\(stdout) \(stderr)")
        let banner = try await client.authenticationBanner()
        if engine.backend.supports(.authenticationBanner) {
            #expect(banner == text, "\(banner.debugDescription)")
        } else {
            #expect(banner == nil, "libssh2 1.10 drops the banner; the capability says so")
        }
        await client.disconnect()
    }

    @Test("keywords nobody acts on are accepted exactly where ssh -G accepts them, and refused where it refuses them")
    func keywordsAsSSHG() async throws {
        let dir = try scratchDirectory("stock-keywords")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases = [
            "UseKeychain yes", "IgnoreUnknown UseKeychain\nUseKeychain yes",
            "IgnoreUnknown Use*,Other\nUseKeychain yes",
            "AddKeysToAgent yes", "AddKeysToAgent confirm 1h", "ControlMaster auto", "ControlMaster autoask",
            "ControlPath ~/.ssh/cm-%r@%h:%p", "ControlPersist 10m", "ControlPersist yes", "ForwardAgent yes",
            "ForwardAgent /tmp/agent.sock", "ServerAliveInterval 30", "LogLevel ERROR", "LogLevel VERBOSE",
            "GSSAPIAuthentication yes", "GSSAPIDelegateCredentials no", "HashKnownHosts yes", "SendEnv LANG LC_*",
            "VisualHostKey yes", "UpdateHostKeys yes", "CanonicalizeHostname no", "Bogus yes",
            "IgnoreUnknown Bog*\nBogus 1",
            "Host *\n  UseKeychain yes", "IgnoreUnknown UseKeychain\nHost *\n  UseKeychain yes",
        ]
        for (index, text) in cases.enumerated() {
            let path = "\(dir)/config\(index)"
            try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            let ssh = try await offPool { try ProcessRunner.outcome(["/usr/bin/ssh", "-G", "-F", path, "somehost"]) }
            var ours = true
            do { _ = try await SSHConfigResolver().resolve(host: "somehost", source: .file(path)) } catch {
                ours = false
            }
            #expect(
                ours == (ssh.status == 0),
                "\(text.debugDescription): ssh -G exit \(ssh.status), ours \(ours ? "accepts" : "refuses")")
        }
    }
}
