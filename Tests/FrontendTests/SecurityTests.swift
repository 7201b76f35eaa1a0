import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// The threats of docs/reliability.md ("Threats"), one suite each, against real sshd servers where a server plays a
// part. Each test failed before the change that stops its threat.

/// A scratch directory removed when the test ends.
private func scratch(_ purpose: String) throws -> String { try scratchDirectory(purpose) }

/// The current umask (read without changing it for long).
private func currentUmask() -> mode_t {
    let mask = umask(0o022)
    umask(mask)
    return mask
}

private func mode(of path: String) -> mode_t {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0 }
    return info.st_mode & 0o7777
}

@Suite("Threat: a host or user name runs a command")
struct NameInjectionThreatTests {
    @Test(
        "host, user, jump and proxy names a shell would act on are refused when the client is made, naming the character",
        arguments: FrontendEngine.all)
    func refusedAtInit(engine: FrontendEngine) throws {
        let cases: [(host: String, config: HostConfig, words: String)] = [
            ("a$(touch x)", HostConfig(), "'$'"),
            ("a`id`", HostConfig(), "'`'"),
            ("a|id", HostConfig(), "'|'"),
            ("a;id", HostConfig(), "';'"),
            ("-oProxyCommand=id", HostConfig(), "starts with '-'"),
            ("a b", HostConfig(), "whitespace"),
            ("a\u{1B}[2J", HostConfig(), "\\033"),
            ("ok", HostConfig(user: "u$(id)"), "'('"),
            ("ok", HostConfig(user: "-l"), "starts with '-'"),
            ("ok", HostConfig(jump: .hosts(["j$(id)"])), "'$'"),
            ("ok", HostConfig(jump: .hosts(["u`id`@j"])), "'`'"),
            ("ok", HostConfig(jump: .proxy(host: "-oProxyCommand=id")), "starts with '-'"),
            ("ok", HostConfig(jump: .proxy(host: "p", user: "x;id")), "';'"),
        ]
        for (host, config, words) in cases {
            let error = #expect(throws: SSHError.self, "\(host) \(config)") {
                _ = try ParallelSSHClient(hosts: [host], backend: engine.backend, config: config)
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains(words) == true, "\(error.map { "\($0)" } ?? "no error")")
            #expect(error?.description.contains("\u{1B}") == false)
        }
        // What OpenSSH accepts stays accepted.
        for host in ["web-1.example.com", "10.0.0.1", "::1", "[::1]", "host_name", "a:b", "h%"] {
            _ = try ParallelSSHClient(hosts: [host], backend: engine.backend, config: HostConfig(user: "deploy$x"))
        }
        // An alias is a label for output, never expanded into a command (local paths made from it stay in their
        // directory: see the host-path threat), so any text is allowed.
        _ = try ParallelSSHClient(
            hosts: ["ok"], backend: engine.backend, config: HostConfig(alias: "web 1 (again) & more"))
    }

    @Test("ssh_config's Match exec and ProxyCommand never run with an injected host or user name")
    func resolverRefusesBeforeExec() async throws {
        let dir = try scratch("names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = dir + "/pwned"
        let config = dir + "/ssh_config"
        try "Match exec \"true %h %r\"\n    Port 2222\nHost *\n    ProxyCommand true %h %r %p\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        let resolver = SSHConfigResolver()
        for (host, user) in [
            ("a$(touch \(marker))", nil), ("a`touch \(marker)`", nil), ("ok", "u$(touch \(marker))"),
            ("a;touch \(marker)", nil), ("-oProxyCommand=touch \(marker)", nil),
        ] as [(String, String?)] {
            let error = await #expect(throws: SSHError.self) {
                _ = try await resolver.resolve(host: host, user: user, source: .file(config))
            }
            #expect(error?.code == .invalidArgument, "\(host)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "an injected name ran a command")
        // A valid name still evaluates, Match exec and all.
        let resolved = try await resolver.resolve(host: "web1", user: "deploy", source: .file(config))
        #expect(resolved.value("port") == "2222")
        #expect(resolved.proxyCommand == "true web1 deploy 2222")
    }
}

@Suite("Threat: downloads plant setuid, setgid or world-writable files", .timeLimit(.minutes(5)))
struct DownloadModeThreatTests {
    @Test(
        "a remote 4755 file arrives 0755, 4777 (scp's C4777 record) and 0666 arrive under the umask, by SFTP and SCP",
        arguments: FrontendEngine.all)
    func modesDropped(engine: FrontendEngine) async throws {
        let remote = try scratch("modes-remote")
        let local = try scratch("modes-local")
        defer { for dir in [remote, local] { try? FileManager.default.removeItem(atPath: dir) } }
        let mask = currentUmask()
        let files: [(name: String, mode: mode_t)] = [
            ("suid", 0o4755), ("wide", 0o4777), ("shared", 0o666), ("sgid", 0o2755),
        ]
        for file in files {
            try "content of \(file.name)\n".write(toFile: "\(remote)/\(file.name)", atomically: false, encoding: .utf8)
            chmod("\(remote)/\(file.name)", file.mode)
        }
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        for file in files {
            try await client.download("\(remote)/\(file.name)", to: "\(local)/sftp-\(file.name)")
            try await client.download("\(remote)/\(file.name)", to: "\(local)/scp-\(file.name)", using: .scp())
            let expected = file.mode & 0o777 & ~mask
            #expect(
                mode(of: "\(local)/sftp-\(file.name)") == expected,
                "SFTP \(file.name): \(String(mode(of: "\(local)/sftp-\(file.name)"), radix: 8))")
            #expect(
                mode(of: "\(local)/scp-\(file.name)") == expected,
                "SCP \(file.name): \(String(mode(of: "\(local)/scp-\(file.name)"), radix: 8))")
        }
        // A tree: its directories lose setgid/sticky too.
        try FileManager.default.createDirectory(atPath: "\(remote)/tree", withIntermediateDirectories: false)
        chmod("\(remote)/tree", 0o3777)
        try await client.download("\(remote)/tree", to: "\(local)/sftp-tree", recurse: true)
        try await client.download("\(remote)/tree", to: "\(local)/scp-tree", using: .scp(), recurse: true)
        #expect(mode(of: "\(local)/sftp-tree") & 0o7000 == 0)
        #expect(mode(of: "\(local)/scp-tree") & 0o7000 == 0)
        await client.disconnect()
    }
}

@Suite("Threat: a strict client rides an insecure client's jump connection", .timeLimit(.minutes(5)))
struct JumpPoolThreatTests {
    @Test(
        "while an insecure client holds a hop connection, a strict client whose known_hosts lacks the hop fails on the hop",
        arguments: FrontendEngine.all)
    func strictClientDoesNotShare(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let (hop, target) = (servers[0], servers[1])
        let dir = try scratch("jump-pool")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The strict client knows the target's key only; the insecure one knows nothing.
        let hostPublic = TestKeys.shared.contents(of: TestKeys.shared.hostKey + ".pub").split(separator: " ")
        let strictFile = dir + "/strict_known_hosts"
        try "[\(target.host)]:\(target.port) \(hostPublic[0]) \(hostPublic[1])\n".write(
            toFile: strictFile, atomically: true, encoding: .utf8)
        let emptyFile = dir + "/empty_known_hosts"
        try "".write(toFile: emptyFile, atomically: true, encoding: .utf8)
        let hopConfig = dir + "/ssh_config"
        try "Host \(hop.host)\n    IdentityFile \(TestKeys.shared.ed25519)\n".write(
            toFile: hopConfig, atomically: true, encoding: .utf8)
        chmod(hopConfig, 0o600)
        var insecure = Fleet.config(port: target.port)
        insecure.hostKeyPolicy = SSHHostKeyPolicy(
            mode: .off, userKnownHostsFiles: [emptyFile], globalKnownHostsFiles: [])
        insecure.hostKeyPolicy?.recordsNewKeys = false
        insecure.sshConfig = .file(hopConfig)
        insecure.jump = .hosts(["\(TestUser.name)@\(hop.host):\(hop.port)"])
        var strict = insecure
        strict.hostKeyPolicy = SSHHostKeyPolicy(
            mode: .strict, userKnownHostsFiles: [strictFile], globalKnownHostsFiles: [])

        let holder = try SSHClient(host: target.host, backend: engine.backend, config: insecure)
        let held = try await holder.runCommand("echo held")
        #expect(try await held.stdout.first { _ in true } == "held")

        let rider = try SSHClient(host: target.host, backend: engine.backend, config: strict)
        let error = await #expect(throws: SSHError.self) { _ = try await rider.runCommand("echo rode") }
        #expect(
            error?.code == .hostKeyUnknown && error?.isJumpHostFailure == true,
            "\(error.map { "\($0)" } ?? "it rode along")")
        await rider.disconnect()
        await holder.disconnect()
    }
}

@Suite(
    "Threat: a jump host receives the target's credentials", .timeLimit(.minutes(5)),
    .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"))
struct JumpCredentialThreatTests {
    @Test("a hop named by jumpHosts is never offered the target's password or key", arguments: FrontendEngine.all)
    func hopGetsOnlyItsOwn(engine: FrontendEngine) async throws {
        let password = try #require(PasswordUser.shared).password
        let hop = try await TestSSHServer.start(host: "127.0.0.2")
        defer { hop.stop() }
        let target = try await Fleet.servers[2]
        var config = HostConfig(
            user: TestUser.name, port: target.port, password: password,
            privateKey: .file(TestKeys.shared.ed25519), connectionAttempts: 1, timeout: .seconds(20),
            allowAgent: false, identityAuth: false, hostKeyPolicy: TestKeys.shared.hostKeyPolicy,
            sshConfig: machineConfig(TestKeys.shared.sshConfig))
        config.jump = .hosts(["\(TestUser.name)@\(hop.host):\(hop.port)"])
        let client = try SSHClient(host: target.host, backend: engine.backend, config: config)
        let error = await #expect(throws: SSHError.self) { _ = try await client.runCommand("true") }
        #expect(error?.isJumpHostFailure == true, "\(error.map { "\($0)" } ?? "the hop let it through")")
        // The failure says why the key given for the target did not open the hop, and where the hop's goes.
        #expect(
            error?.code == .authenticationFailed
                && error?.message.contains("a jump host is not given the target's key or password") == true,
            "\(error.map { "\($0)" } ?? "")")
        await client.disconnect()
        #expect(!hop.log.contains("password for"), "the hop saw a password attempt:\n\(hop.log)")
        #expect(!hop.log.contains("Accepted publickey"), "the hop accepted the target's key:\n\(hop.log)")
    }
}

@Suite(
    "Threat: checking off hands a changed host the password", .timeLimit(.minutes(5)),
    .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"))
struct InsecureModeThreatTests {
    @Test("the insecure policy still reads the known-hosts files (and writes none)")
    func insecureReadsFiles() {
        let policy = SSHHostKeyPolicy.insecureAcceptAnything
        #expect(policy.userKnownHostsFiles == SSHHostKeyPolicy().userKnownHostsFiles)
        #expect(policy.globalKnownHostsFiles == SSHHostKeyPolicy().globalKnownHostsFiles)
        #expect(!policy.recordsNewKeys)
    }

    @Test(
        "checking off and a changed key: no password is sent, the caller is warned; a key still logs in",
        arguments: FrontendEngine.all)
    func changedKeyDropsPassword(engine: FrontendEngine) async throws {
        let password = try #require(PasswordUser.shared).password
        let server = try await TestSSHServer.start(host: "127.0.0.2")
        defer { server.stop() }
        let dir = try scratch("insecure")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A known key for the server that is not its key: the "changed" host.
        let other = TestKeys.shared.contents(of: TestKeys.shared.otherHostKeys.ed25519 + ".pub").split(separator: " ")
        let known = dir + "/known_hosts"
        try "[\(server.host)]:\(server.port) \(other[0]) \(other[1])\n".write(
            toFile: known, atomically: true, encoding: .utf8)
        let warnings = Mutex<[String]>([])
        var policy = SSHHostKeyPolicy(mode: .off, userKnownHostsFiles: [known], globalKnownHostsFiles: [])
        policy.warningHandler = { _, _, warning in warnings.withLock { $0.append(warning) } }
        let config = HostConfig(
            user: TestUser.name, port: server.port, password: password, connectionAttempts: 1,
            allowAgent: false, identityAuth: false, hostKeyPolicy: policy, sshConfig: .disabled)
        let client = try SSHClient(host: server.host, backend: engine.backend, config: config)
        let error = await #expect(throws: SSHError.self) { try await client.connect() }
        #expect(
            error?.code == .authenticationFailed || error?.code == .invalidArgument,
            "\(error.map { "\($0)" } ?? "the password was sent")")
        #expect(!server.log.contains("password for \(TestUser.name)"), "sshd saw a password attempt:\n\(server.log)")
        let seen = warnings.withLock { $0 }
        #expect(seen.count == 1 && seen[0].contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(seen)")
        #expect(seen.first?.contains("disabled to avoid man-in-the-middle attacks") == true)

        var keyed = config
        (keyed.password, keyed.privateKey) = (nil, .file(TestKeys.shared.ed25519))
        let keyClient = try SSHClient(host: server.host, backend: engine.backend, config: keyed)
        let output = try await keyClient.runCommand("echo in")
        #expect(try await output.stdout.first { _ in true } == "in")
        await keyClient.disconnect()
        #expect(
            try String(contentsOfFile: known, encoding: .utf8).split(separator: "\n").count == 1,
            "a changed key is never written")
    }
}

@Suite("Threat: a server or command exhausts the client's memory", .timeLimit(.minutes(5)))
struct MemoryCapThreatTests {
    @Test(
        "3 MB without a newline arrives as pieces of at most 1 MiB that join to the whole",
        arguments: FrontendEngine.all)
    func longLineInPieces(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let output = try await client.runCommand("head -c 3000000 /dev/zero | tr '\\0' a; echo; echo end")
        var pieces: [Int] = []
        var last = ""
        for try await line in output.stdout {
            pieces.append(line.utf8.count)
            #expect(line.allSatisfy { $0 == "a" } || line == "end")
            last = line
        }
        #expect(pieces.allSatisfy { $0 <= LineSplitter.defaultMaximumLineLength }, "\(pieces)")
        #expect(pieces.dropLast().reduce(0, +) == 3_000_000 && pieces.count == 4 && last == "end", "\(pieces)")
        await client.disconnect()
    }

    @Test(
        "an SFTP server whose directory listing never ends: the download stops with a typed error",
        arguments: FrontendEngine.all)
    func endlessListing(engine: FrontendEngine) async throws {
        let server = try await HostileSFTP.start("endless")
        defer { server.stop() }
        let local = try scratch("endless")
        defer { try? FileManager.default.removeItem(atPath: local) }
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let error = await #expect(throws: SSHError.self) {
            try await client.download("/endless", to: local + "/copy", recurse: true)
        }
        #expect(
            error?.code == .fileTransferFailed && error?.message.contains("the listing was stopped") == true,
            "\(error.map { "\($0)" } ?? "")")
        await client.disconnect()
    }
}

@Suite("Threat: a recursive download follows a remote symlink out of the tree", .timeLimit(.minutes(5)))
struct SymlinkThreatTests {
    @Test(
        "links inside the tree (a loop to '.', a link to '/') are skipped, as sftp -r does; files and directories come",
        arguments: FrontendEngine.all)
    func linksSkipped(engine: FrontendEngine) async throws {
        let remote = try scratch("links-remote")
        let local = try scratch("links-local")
        defer { for dir in [remote, local] { try? FileManager.default.removeItem(atPath: dir) } }
        try FileManager.default.createDirectory(atPath: remote + "/sub", withIntermediateDirectories: false)
        try "x\n".write(toFile: remote + "/sub/file", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: remote + "/loop", withDestinationPath: ".")
        try FileManager.default.createSymbolicLink(atPath: remote + "/root", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: remote + "/sub/passwd", withDestinationPath: "/etc/passwd")
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        try await client.download(remote, to: local + "/copy", recurse: true)
        await client.disconnect()
        let copied = try FileManager.default.subpathsOfDirectory(atPath: local + "/copy").sorted()
        #expect(copied == ["sub", "sub/file"], "\(copied.prefix(10))")
    }
}

@Suite(
    "Threat: sudo's password reaches the output or a command that did not ask", .timeLimit(.minutes(5)),
    .enabled(if: SudoSetup.unavailableReason == nil, "\(SudoSetup.unavailableReason ?? "")"))
struct SudoPasswordThreatTests {
    @Test(
        "sudo asks: answered on its prompt; under a PTY the password and the prompt never reach stdout",
        arguments: FrontendEngine.all)
    func answeredOnPrompt(engine: FrontendEngine) async throws {
        let password = try SudoSetup.prepare()
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        for pty in [false, true] {
            let output = try await client.runCommand(
                "id -u", options: .init(sudo: true, pty: pty, sudoPassword: password))
            var stdout: [String] = []
            for try await line in output.stdout { stdout.append(line) }
            var stderr: [String] = []
            for try await line in output.stderr { stderr.append(line) }
            try await output.waitFinished()
            #expect(stdout == ["0"], "pty \(pty): \(stdout)")
            #expect(output.exitCode == 0)
            let everything = (stdout + stderr).joined(separator: "\n")
            #expect(
                !everything.contains(password) && !everything.contains("parallel-ssh asks"), "pty \(pty): \(everything)"
            )
        }
        await client.disconnect()
    }

    @Test(
        "a wrong sudo password: sudo's refusal and status 1, no second wait for a password, with and without a PTY",
        arguments: FrontendEngine.all)
    func wrongPassword(engine: FrontendEngine) async throws {
        let password = try SudoSetup.prepare()
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        for pty in [false, true] {
            let output = try await client.runCommand(
                "id -u", options: .init(sudo: true, pty: pty, sudoPassword: password + "-wrong"))
            var lines: [String] = []
            for try await line in output.stdout { lines.append(line) }
            for try await line in output.stderr { lines.append(line) }
            try await output.waitFinished()
            let everything = lines.joined(separator: "\n")
            #expect(output.exitCode == 1, "pty \(pty): \(everything)")
            #expect(everything.contains("Sorry, try again"), "pty \(pty): \(everything)")
            #expect(
                !everything.contains("parallel-ssh asks") && !everything.contains(password), "pty \(pty): \(everything)"
            )
            #expect(!lines.contains("0"), "pty \(pty): \(everything)")
        }
        await client.disconnect()
    }

    @Test("sudo does not ask (NOPASSWD): the password never reaches the command's stdin", arguments: FrontendEngine.all)
    func notSentUnasked(engine: FrontendEngine) async throws {
        let password = try SudoSetup.prepare()
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let output = try await client.runCommand("cat", options: .init(user: "nobody", sudoPassword: password))
        try await output.stdin.close()
        let text = try await output.rawStdout.collect()
        try await output.waitFinished()
        #expect(text.isEmpty, "the command read: \(String(decoding: text, as: UTF8.self))")
        #expect(output.exitCode == 0)
        await client.disconnect()
    }

    @Test("sudoPassword without sudo or user is refused", arguments: FrontendEngine.all)
    func needsSudo(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let error = await #expect(throws: SSHError.self) {
            _ = try await client.runCommand("true", options: .init(sudoPassword: "x"))
        }
        #expect(error?.code == .invalidArgument)
        await client.disconnect()
    }
}

@Suite("Threat: a host name writes outside the local directory", .timeLimit(.minutes(5)))
struct HostPathThreatTests {
    @Test("a download suffixed with an alias full of '..' stays in its directory", arguments: FrontendEngine.all)
    func aliasStaysInside(engine: FrontendEngine) async throws {
        let remote = try scratch("path-remote")
        let local = try scratch("path-local")
        defer { for dir in [remote, local] { try? FileManager.default.removeItem(atPath: dir) } }
        try "data\n".write(toFile: remote + "/file", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: local + "/sub", withIntermediateDirectories: false)
        let server = try await Fleet.servers[0]
        let client = try ParallelSSHClient(
            hosts: [server.host], backend: engine.backend, config: Fleet.config(),
            hostConfig: [HostConfig(port: server.port, alias: "x/../../pwned")])
        try await client.download(remote + "/file", to: local + "/sub/out")
        try await client.download(remote + "/file", to: local + "/sub/scp", using: .scp())
        await client.disconnect()
        #expect(!FileManager.default.fileExists(atPath: local + "/pwned"), "wrote outside sub/")
        #expect(FileManager.default.fileExists(atPath: local + "/sub/out_x_.._.._pwned"))
        #expect(FileManager.default.fileExists(atPath: local + "/sub/scp_x_.._.._pwned"))
        #expect(
            HostFileName.component("..") == "_.." && HostFileName.component(".") == "_."
                && HostFileName.component("") == "_")
        #expect(HostFileName.path(in: "/d", host: "../../etc") == "/d/.._.._etc")
    }
}

@Suite("Threat: server text drives the terminal", .timeLimit(.minutes(5)))
struct ServerTextThreatTests {
    @Test("an SFTP server's error message full of escape sequences is printed escaped", arguments: FrontendEngine.all)
    func sftpMessageSanitised(engine: FrontendEngine) async throws {
        let server = try await HostileSFTP.start("escape")
        defer { server.stop() }
        let local = try scratch("escape")
        defer { try? FileManager.default.removeItem(atPath: local) }
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let error = await #expect(throws: SSHError.self) { try await client.download("/x", to: local + "/x") }
        await client.disconnect()
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(text.debugDescription)")
        #expect(text.contains("\\033]0;pwned\\007"), "\(text)")
        #expect(error?.message.contains("\u{1B}") == false)
    }

    @Test("scp's error naming a remote path with escape sequences is printed escaped", arguments: FrontendEngine.all)
    func scpMessageSanitised(engine: FrontendEngine) async throws {
        let local = try scratch("escape-scp")
        defer { try? FileManager.default.removeItem(atPath: local) }
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let error = await #expect(throws: SSHError.self) {
            try await client.download("/nonexistent-\u{1B}]0;pwned\u{07}", to: local + "/x", using: .scp())
        }
        await client.disconnect()
        #expect(
            error.map { "\($0)" }?.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 } == false,
            "\(error.map { "\($0)".debugDescription } ?? "")")
    }
}

@Suite("Threat: secrets in descriptions and logs")
struct SecretRedactionThreatTests {
    @Test("HostConfig, PrivateKey, SSHAuthMethod and SSHConnectionOptions print no password, passphrase or key text")
    func redacted() {
        let config = HostConfig(
            user: "deploy", password: "hunter2", privateKey: .memory("-----KEYTEXT-----", passphrase: "pp-secret"),
            jump: .proxy(
                host: "bastion", password: "proxy-secret", privateKey: .file("/k", passphrase: "pp2-secret")))
        let options = SSHConnectionOptions(
            host: "h",
            authMethods: [
                .password("hunter2"), .privateKey(SSHPrivateKeyData("-----KEYTEXT-----"), passphrase: "pp-secret"),
                .privateKeyFile(path: "/k", passphrase: "pp2-secret"), .keyboardInteractive(password: "hunter2"),
                .defaultIdentities(passphrase: "pp-secret"),
                .certificate(keyPath: "/k", certificatePath: "/c", passphrase: "pp2-secret"),
            ])
        var dumped = ""
        dump(config, to: &dumped)
        dump(options, to: &dumped)
        let texts = [
            String(describing: config), String(reflecting: config), "\(options)", String(reflecting: options),
            "\(options.authMethods)", "\(PrivateKey.memory("-----KEYTEXT-----", passphrase: "pp-secret"))", dumped,
        ]
        for text in texts {
            for secret in ["hunter2", "pp-secret", "pp2-secret", "proxy-secret", "KEYTEXT"] {
                #expect(!text.contains(secret), "\(secret) in \(text)")
            }
        }
        #expect("\(config)".contains("user: deploy") && "\(config)".contains("<redacted>"))
        #expect("\(options)".contains("privateKeyFile(path: \"/k\", passphrase: <redacted>)"), "\(options)")
    }
}

@Suite("Threat: SCP records broken by a file name", .timeLimit(.minutes(5)))
struct SCPNameThreatTests {
    @Test(
        "a local file name with a newline is refused before anything is sent; the remote side is untouched",
        arguments: FrontendEngine.all)
    func newlineRefused(engine: FrontendEngine) async throws {
        let local = try scratch("scp-newline")
        let remote = try scratch("scp-newline-remote")
        defer { for dir in [local, remote] { try? FileManager.default.removeItem(atPath: dir) } }
        try "x\n".write(toFile: local + "/a\nC0644 1 evil", atomically: false, encoding: .utf8)
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let error = await #expect(throws: SSHError.self) {
            try await client.upload(local + "/a\nC0644 1 evil", to: remote + "/", using: .scp())
        }
        #expect(
            error?.code == .invalidArgument && error?.message.contains("newline") == true,
            "\(error.map { "\($0)" } ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: remote).isEmpty)
        await client.disconnect()
    }
}

/// A test sshd whose SFTP subsystem is `Tests/Servers/hostile_sftp.py` in the given mode.
enum HostileSFTP {
    static func start(_ mode: String) async throws -> TestSSHServer {
        let dir = try scratchDirectory("hostile-sftp")
        let script = dir + "/hostile_sftp.py"
        try FileManager.default.copyItem(
            atPath: InteropServer.repositoryRoot + "/Tests/Servers/hostile_sftp.py", toPath: script)
        chmod(script, 0o755)
        return try await TestSSHServer.start(
            host: "127.0.0.3", extraConfig: ["Subsystem sftp /usr/bin/python3 \(script) \(mode)"])
    }
}

/// sudo for the test account: a password asked for everything, nothing asked to run as `nobody`, no lecture and
/// no cached credential. Needs root (to write `/etc/sudoers.d`) and the sudo package.
enum SudoSetup {
    static var unavailableReason: String? {
        if getuid() != 0 { return "the sudo tests need root to configure sudo for the test account" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/sudo") {
            return "sudo is not installed (scripts/install-deps installs it)"
        }
        return nil
    }

    /// Writes the sudoers rules once; returns the account's password.
    static func prepare() throws -> String {
        guard let account = PasswordUser.shared else { throw TestSupportError(PasswordUser.unavailableReason) }
        try written.get()
        return account.password
    }

    private static let written = Result<Void, any Error> { () throws in
        let rules = """
            Defaults:\(PasswordUser.accountName) lecture=never, timestamp_timeout=0, !requiretty
            \(PasswordUser.accountName) ALL=(ALL) ALL
            \(PasswordUser.accountName) ALL=(nobody) NOPASSWD: ALL

            """
        let path = "/etc/sudoers.d/\(PasswordUser.accountName)"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o440)
    }
}
