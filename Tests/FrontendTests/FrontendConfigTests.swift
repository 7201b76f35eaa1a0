import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHEventLoop
import SSHTestSupport
import Testing

/// ssh_config acted on by the client against real sshd, on both engines.
@Suite("ssh_config against real sshd", .timeLimit(.minutes(10)))
struct FrontendConfigTests {
    /// Writes `text` as a user config file (mode 0600, as OpenSSH requires) and returns its path.
    private func configFile(_ text: String, in dir: String) throws -> String {
        let path = "\(dir)/config"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// Settings with nothing but the config file: user, port, key and known hosts all come from it.
    private func onlyFile(_ path: String) -> HostConfig {
        HostConfig(allowAgent: false, sshConfig: machineConfig(path))
    }

    @Test(
        "an alias with HostName, Port, User, IdentityFile and known hosts from the file connects",
        arguments: FrontendEngine.all)
    func aliasConnects(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let dir = try scratchDirectory("config-alias")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile(
            """
            Host web-*
                User \(TestUser.name)
                IdentityFile \(TestKeys.shared.unauthorized)
                IdentityFile \(TestKeys.shared.ed25519)
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
                GlobalKnownHostsFile /dev/null
            Host web-1
                HostName \(servers[1].host)
                Port \(servers[1].port)
            Host web-2
                HostName \(servers[2].host)
                Port \(servers[2].port)
                SetEnv PSSH_FROM_CONFIG=yes
            """, in: dir)
        let client = try ParallelSSHClient(hosts: ["web-1", "web-2"], backend: engine.backend, config: onlyFile(path))
        let output = try await client.runCommand(
            "set -- $SSH_CONNECTION; echo \"$3 $4 $(id -un) ${PSSH_FROM_CONFIG:-unset}\"")
        var lines: [String] = []
        for host in output { for try await line in host.stdout { lines.append(line) } }
        #expect(
            lines == [
                "\(servers[1].host) \(servers[1].port) \(TestUser.name) unset",
                "\(servers[2].host) \(servers[2].port) \(TestUser.name) yes",
            ])
        #expect(output.map(\.host) == ["web-1", "web-2"], "outputs keep the names as given")
        let resolved = try #require(try await client.resolvedConfig(at: 1))
        #expect(resolved.sshG.contains("hostname \(servers[2].host)"))
        await client.disconnect()
    }

    @Test(
        "CertificateFile: offered with the IdentityFile key it certifies, wherever it lies; with one named, a -cert.pub beside a key is not (ssh as the oracle)",
        arguments: FrontendEngine.all)
    func certificateFile(engine: FrontendEngine) async throws {
        let server = try await TestSSHServer.start(host: "127.0.0.2")
        defer { server.stop() }
        let dir = try scratchDirectory("config-certificate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = TestKeys.shared
        // The certified key with no certificate beside it, and its certificate in another directory.
        let key = dir + "/key"
        try FileManager.default.copyItem(atPath: keys.certified, toPath: key)
        chmod(key, 0o600)
        try FileManager.default.createDirectory(atPath: dir + "/certs", withIntermediateDirectories: true)
        let elsewhere = dir + "/certs/mine.pub"
        try FileManager.default.copyItem(atPath: keys.certificate, toPath: elsewhere)
        // Another key's certificate, from the same CA: naming it makes ssh ignore the certified key's own
        // -cert.pub, which sits beside it.
        try FileManager.default.copyItem(atPath: keys.unauthorized + ".pub", toPath: dir + "/other.pub")
        let principals = String(cString: getpwuid(getuid())!.pointee.pw_name) + ",\(PasswordUser.accountName)"
        _ = try await offPool {
            try ProcessRunner.run([
                "/usr/bin/ssh-keygen", "-q", "-s", keys.userCA, "-I", "other", "-n", principals, "-V", "-5m:+1d",
                dir + "/other.pub",
            ])
        }
        let cases: [(identity: String, certificate: String, sshConnects: Bool)] = [
            (key, elsewhere, true), (keys.certified, dir + "/other-cert.pub", false),
        ]
        for (index, (identity, certificate, sshConnects)) in cases.enumerated() {
            // A directory per case: the resolver keeps what it read of a file.
            try FileManager.default.createDirectory(atPath: "\(dir)/\(index)", withIntermediateDirectories: true)
            let path = try configFile(
                """
                Host h
                    HostName \(server.host)
                    Port \(server.port)
                    User \(TestUser.name)
                    IdentityFile \(identity)
                    CertificateFile \(certificate)
                    IdentitiesOnly yes
                    UserKnownHostsFile \(keys.knownHosts)
                    GlobalKnownHostsFile /dev/null
                    BatchMode yes
                """, in: "\(dir)/\(index)")
            let ssh = try await offPool {
                try ProcessRunner.outcome(["/usr/bin/ssh", "-F", path, "-o", "IdentityAgent=none", "h", "true"])
            }
            #expect((ssh.status == 0) == sshConnects, "case \(index): ssh \(ssh.status) \(ssh.output)")
            let client = try SSHClient(
                host: "h", backend: engine.backend, config: HostConfig(allowAgent: false, sshConfig: .file(path)))
            let before = server.log.components(separatedBy: "ED25519-CERT").count
            do {
                let output = try await client.runCommand("echo in")
                #expect(try await output.stdout.first { _ in true } == "in")
                #expect(sshConnects, "case \(index): we logged in where ssh did not")
                #expect(server.log.components(separatedBy: "ED25519-CERT").count > before, "with the certificate")
            } catch let error as SSHError {
                let certificates = engine.backend.capabilities.contains(.userCertificates)
                #expect(!sshConnects || !certificates, "case \(index): \(error)")
                #expect(error.code == .authenticationFailed, "case \(index): \(error)")
            }
            await client.disconnect()
        }
    }

    @Test("the caller's values win over the file's, as ssh's command line does", arguments: FrontendEngine.all)
    func callerWins(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let dir = try scratchDirectory("config-wins")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile(
            """
            Host *
                Port 1
                User nobody-here
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
            """, in: dir)
        var config = Fleet.config(port: server.port)
        config.sshConfig = .file(path)
        config.hostKeyPolicy = nil  // from the file
        let client = try ParallelSSHClient(hosts: [server.host], backend: engine.backend, config: config)
        let output = try await client.runCommand("id -un")
        #expect(try await output[0].stdout.first { _ in true } == TestUser.name)
        await client.disconnect()
    }

    @Test(
        "ConnectTimeout from the file applies to a silent listener, at exactly its deadline (virtual time)",
        arguments: FrontendEngine.all)
    func connectTimeout(engine: FrontendEngine) async throws {
        let silent = try BlackholeListener(host: "127.0.0.1")
        let dir = try scratchDirectory("config-timeout")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile(
            "Host silent\n    HostName \(silent.host)\n    Port \(silent.port)\n    ConnectTimeout 1\n"
                + "    ConnectionAttempts 1\n", in: dir)
        let clock = ManualClock()
        let client = try ParallelSSHClient(hosts: ["silent"], backend: engine.onClock(clock), config: onlyFile(path))
        let run = Task { try await client.runCommand("true", stopOnErrors: false) }
        try await silent.acceptClientHello()
        #expect(await clock.advance(by: .milliseconds(999)) == [])
        #expect(await clock.advance(by: .milliseconds(1)) == ["operation deadline"])
        let output = try await run.value
        #expect(output[0].error?.code == .timeout)
    }

    @Test(
        "a bad config line fails the host with file and line",
        arguments: FrontendEngine.all)
    func badLines(engine: FrontendEngine) async throws {
        let dir = try scratchDirectory("config-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile("Host *\n    Port 22\n    Frobnicate yes\n", in: dir)
        let client = try ParallelSSHClient(hosts: ["anything"], backend: engine.backend, config: onlyFile(path))
        let error = await #expect(throws: SSHError.self) { try await client.runCommand("true") }
        #expect(error?.message.contains("\(path) line 3: Bad configuration option: frobnicate") == true)
        #expect(error?.host == "anything")
    }

    @Test("IdentityAgent names the agent; IdentitiesOnly keeps its keys out", arguments: FrontendEngine.all)
    func identitiesOnly(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let agent = try await TestAgent.start(keys: [TestKeys.shared.ed25519])
        let dir = try scratchDirectory("config-agent")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func client(identitiesOnly: Bool) throws -> ParallelSSHClient {
            let path = "\(dir)/config-\(identitiesOnly)"
            try """
            Host box
                HostName \(server.host)
                Port \(server.port)
                User \(TestUser.name)
                IdentityFile \(TestKeys.shared.unauthorized)
                IdentityAgent \(agent.socketPath)
                IdentitiesOnly \(identitiesOnly ? "yes" : "no")
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
            """.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            return try ParallelSSHClient(
                hosts: ["box"], backend: engine.backend,
                config: HostConfig(connectionAttempts: 1, sshConfig: .file(path)))
        }
        // The file's own key is not authorized; the agent's key is.
        let viaAgent = try await client(identitiesOnly: false).runCommand("echo in")
        #expect(try await viaAgent[0].stdout.first { _ in true } == "in")
        let output = try await client(identitiesOnly: true).runCommand("true", stopOnErrors: false)
        let error = output[0].error
        #expect(error?.code == .authenticationFailed, "\(output[0])")
        #expect(error?.attempts.contains { $0.method.contains("agent") } == false)
    }

    @Test(
        "RequestTTY from the file gives commands a terminal unless the caller says otherwise",
        arguments: FrontendEngine.all)
    func requestTTY(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let dir = try scratchDirectory("config-tty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile("Host *\n    RequestTTY force\n", in: dir)
        var config = Fleet.config(port: server.port)
        config.sshConfig = .file(path)
        let client = try ParallelSSHClient(hosts: [server.host], backend: engine.backend, config: config)
        let fromFile = try await client.runCommand("tty")
        #expect(try await fromFile[0].stdout.first { _ in true }?.hasPrefix("/dev/pts/") == true)
        let explicit = try await client.runCommand("tty", options: .init(pty: false))
        #expect(try await explicit[0].stdout.first { _ in true } == "not a tty")
        await client.disconnect()
    }

    @Test(
        "ProxyCommand from the file, with %h and %p: the host is reached through ssh -W on a jump host",
        arguments: FrontendEngine.all)
    func proxyCommand(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let (jump, target) = (servers[0], servers[2])
        let dir = try scratchDirectory("config-proxy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile(
            """
            Host hidden
                HostName \(target.host)
                Port \(target.port)
                User \(TestUser.name)
                IdentityFile \(TestKeys.shared.ed25519)
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
                ProxyCommand /bin/sh -c 'touch \(dir)/used; exec /usr/bin/ssh -F none -o BatchMode=yes -o UserKnownHostsFile=\(TestKeys.shared.knownHosts) -i \(TestKeys.shared.ed25519) -p \(jump.port) -W %h:%p \(TestUser.name)@\(jump.host)'
            """, in: dir)
        let client = try ParallelSSHClient(hosts: ["hidden"], backend: engine.backend, config: onlyFile(path))
        let output = try await client.runCommand("set -- $SSH_CONNECTION; echo $3 $4")
        #expect(try await output[0].stdout.first { _ in true } == "\(target.host) \(target.port)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/used"), "the connection went through the ProxyCommand")
        let resolved = try #require(try await client.resolvedConfig(at: 0))
        #expect(resolved.proxyCommand?.contains("-W \(target.host):\(target.port)") == true)
        await client.disconnect()
    }

    @Test(
        "ProxyJump from the file, the hop configured under its own name: reached in-process through the jump host",
        arguments: FrontendEngine.all)
    func proxyJump(engine: FrontendEngine) async throws {
        let jump = try await TestSSHServer.start(host: "127.0.0.2", extraConfig: ["LogLevel DEBUG1"])
        defer { jump.stop() }
        let target = try await Fleet.servers[2]
        let dir = try scratchDirectory("config-jump")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try configFile(
            """
            Host behind
                HostName \(target.host)
                Port \(target.port)
                ProxyJump bastion
            Host bastion
                HostName \(jump.host)
                Port \(jump.port)
            Host *
                User \(TestUser.name)
                IdentityFile \(TestKeys.shared.ed25519)
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
            """, in: dir)
        let client = try ParallelSSHClient(hosts: ["behind"], backend: engine.backend, config: onlyFile(path))
        let output = try await client.runCommand("set -- $SSH_CONNECTION; echo $3 $4")
        #expect(try await output[0].stdout.first { _ in true } == "\(target.host) \(target.port)")
        await client.disconnect()
        try await waitUntil("the jump sshd logs the tunnel") { jump.log.contains("direct-tcpip") }
    }
}
