import Foundation
import SSHBackend
import SSHTestSupport
import Synchronization
import Testing

/// Host-key verification against real sshd, with OpenSSH's `ssh` and `ssh-keygen` as the oracles.
@Suite("Host keys", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct HostKeyTests {

    /// `type base64` of a public key file.
    private static func publicKey(_ privateKeyPath: String) throws -> String {
        let parts = try String(contentsOfFile: privateKeyPath + ".pub", encoding: .utf8).split(separator: " ")
        return "\(parts[0]) \(parts[1])"
    }

    private func policy(
        _ mode: SSHHostKeyPolicy.Mode, _ file: String, hashed: Bool = false,
        alias: String? = nil
    ) -> SSHHostKeyPolicy {
        SSHHostKeyPolicy(
            mode: mode, userKnownHostsFiles: [file], globalKnownHostsFiles: [], hostKeyAlias: alias,
            hashKnownHosts: hashed)
    }

    private func options(
        _ server: TestSSHServer, _ policy: SSHHostKeyPolicy,
        auth: [SSHAuthMethod] = [.privateKeyFile(path: TestKeys.shared.ed25519)]
    ) -> SSHConnectionOptions {
        var options = server.options(auth: auth)
        options.hostKeyPolicy = policy
        return options
    }

    /// Whether OpenSSH's `ssh` connects under `mode` with `file` as its only known-hosts file.
    private func sshConnects(_ server: TestSSHServer, mode: String, file: String) -> Bool {
        let arguments = [
            "/usr/bin/ssh", "-F", "none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=\(mode)",
            "-o", "UserKnownHostsFile=\(file)", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10", "-i", TestKeys.shared.ed25519, "-p", String(server.port),
            "\(TestUser.name)@\(server.host)", "true",
        ]
        return (try? ProcessRunner.run(arguments)) != nil
    }

    /// The known-hosts situations of the oracle comparison, for a server presenting the shared ed25519 host key.
    private static func scenarios(port: Int) throws -> [(name: String, text: String)] {
        let served = try publicKey(TestKeys.shared.hostKey)
        let otherEd25519 = try publicKey(TestKeys.shared.otherHostKeys.ed25519)
        let ecdsa = try publicKey(TestKeys.shared.otherHostKeys.ecdsa)
        let name = "[127.0.0.1]:\(port)"
        return [
            ("known", "\(name) \(served)\n"),
            ("unknown", ""),
            ("changed", "\(name) \(otherEd25519)\n"),
            ("another type known", "\(name) \(ecdsa)\n"),
            ("revoked", "\(name) \(served)\n@revoked * \(served)\n"),
            ("port-less entry", "127.0.0.1 \(served)\n"),
            ("wildcard and negation", "127.0.0.*,!127.0.0.1 \(served)\n[127.0.0.*]:\(port) \(served)\n"),
            ("negation vetoes", "[127.0.0.*]:\(port),![127.0.0.1]:\(port) \(served)\n"),
        ]
    }

    @Test(
        "connect or refuse as OpenSSH's ssh does, for every mode (yes, accept-new, no, ask) and known-hosts situation",
        arguments: Engine.all)
    func decisionsMatchOpenSSH(engine: Engine) async throws {
        let server = try await TestSSHServer.sharedStarted
        let dir = try scratchDirectory("hk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var compared = 0
        for (index, scenario) in try Self.scenarios(port: server.port).enumerated() {
            // `ask` under BatchMode has nobody to ask: a prompter that refuses is the same.
            let refusing = SSHHostKeyPrompter { $0.map { _ in false } }
            for (mode, sshMode) in [
                (SSHHostKeyPolicy.Mode.strict, "yes"), (.acceptNew, "accept-new"), (.off, "no"),
                (.ask(refusing), "ask"),
            ] {
                let theirs = "\(dir)/ssh-\(index)-\(sshMode)"
                let ours = "\(dir)/ours-\(index)-\(sshMode)"
                try scenario.text.write(toFile: theirs, atomically: true, encoding: .utf8)
                try scenario.text.write(toFile: ours, atomically: true, encoding: .utf8)
                let expected = try await offPool { [self] in sshConnects(server, mode: sshMode, file: theirs) }
                var connected = false
                var failure = ""
                do {
                    let session = try await engine.backend.connect(options(server, policy(mode, ours)))
                    connected = true
                    await session.close()
                } catch {
                    failure = "\(error)"
                }
                #expect(
                    connected == expected,
                    "\(scenario.name), StrictHostKeyChecking=\(sshMode): ssh \(expected ? "connects" : "refuses"); we \(connected ? "connect" : "refuse: \(failure)")"
                )
                // What each appended (accept-new and off add an unknown host's key): the same entries.
                let theirLines = Set(
                    try String(contentsOfFile: theirs, encoding: .utf8).split(separator: "\n").map(String.init))
                let ourLines = Set(
                    try String(contentsOfFile: ours, encoding: .utf8).split(separator: "\n").map(String.init))
                #expect(theirLines == ourLines, "\(scenario.name), \(sshMode): the known-hosts files differ")
                compared += 1
            }
        }
        #expect(compared == 32)
    }

    @Test(
        "a host known only through an @cert-authority line: ssh connects with the host's certificate; we cannot negotiate one, and the error says a CA line alone is not enough",
        arguments: Engine.all)
    func certificateAuthorityOnly(engine: Engine) async throws {
        let dir = try scratchDirectory("hk-ca")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A host CA, and the server's host key (a copy of the shared one) certified by it for 127.0.0.13.
        try ProcessRunner.run(["/usr/bin/ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", "\(dir)/host-ca"])
        try FileManager.default.copyItem(atPath: TestKeys.shared.hostKey, toPath: "\(dir)/host")
        try FileManager.default.copyItem(atPath: TestKeys.shared.hostKey + ".pub", toPath: "\(dir)/host.pub")
        chmod("\(dir)/host", 0o600)
        try ProcessRunner.run([
            "/usr/bin/ssh-keygen", "-q", "-s", "\(dir)/host-ca", "-h", "-I", "test-host", "-n", "127.0.0.13",
            "\(dir)/host.pub",
        ])
        let server = try await TestSSHServer.start(
            host: "127.0.0.13", extraConfig: ["HostCertificate \(dir)/host-cert.pub"], hostKeys: ["\(dir)/host"])
        defer { server.stop() }
        try "@cert-authority 127.0.0.13,[127.0.0.13]:* \(Self.publicKey("\(dir)/host-ca"))\n"
            .write(toFile: "\(dir)/ca-only", atomically: true, encoding: .utf8)
        #expect(sshConnects(server, mode: "yes", file: "\(dir)/ca-only"), "ssh, the oracle, trusts the certificate")
        let unknown = await expectSSHError(.hostKeyUnknown) {
            try await engine.backend.connect(options(server, policy(.strict, "\(dir)/ca-only")))
        }
        #expect(unknown?.message.contains("@cert-authority line (\(dir)/ca-only:1) matches this host") == true)
        #expect(
            unknown?.message.contains("a CA line alone is not enough here") == true, "\(unknown.map { "\($0)" } ?? "")")
    }

    @Test("errors name host, port, key type, fingerprint and the offending line", arguments: Engine.all)
    func errorMessages(engine: Engine) async throws {
        let server = try await TestSSHServer.sharedStarted
        let dir = try scratchDirectory("hk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fingerprint = try ProcessRunner.run(["/usr/bin/ssh-keygen", "-l", "-f", TestKeys.shared.hostKey + ".pub"])
            .split(separator: " ")[1]
        try "".write(toFile: "\(dir)/empty", atomically: true, encoding: .utf8)
        let unknown = await expectSSHError(.hostKeyUnknown) {
            try await engine.backend.connect(options(server, policy(.strict, "\(dir)/empty")))
        }
        #expect(unknown?.host == "127.0.0.1" && unknown?.port == server.port)
        #expect(unknown?.message.contains("ED25519") == true && unknown?.message.contains(String(fingerprint)) == true)
        #expect(unknown?.message.contains("accept") == true, "says how to trust it")
        try "# first line\n[127.0.0.1]:\(server.port) \(Self.publicKey(TestKeys.shared.otherHostKeys.ed25519))\n"
            .write(toFile: "\(dir)/changed", atomically: true, encoding: .utf8)
        let changed = await expectSSHError(.hostKeyChanged) {
            try await engine.backend.connect(options(server, policy(.strict, "\(dir)/changed")))
        }
        #expect(changed?.message.contains("\(dir)/changed:2") == true, "\(changed.map { "\($0)" } ?? "")")
        #expect(changed?.message.contains(String(fingerprint)) == true)
        try
            "[127.0.0.1]:\(server.port) \(Self.publicKey(TestKeys.shared.hostKey))\n@revoked * \(Self.publicKey(TestKeys.shared.hostKey))\n"
            .write(toFile: "\(dir)/revoked", atomically: true, encoding: .utf8)
        let revoked = await expectSSHError(.hostKeyRevoked) {
            try await engine.backend.connect(options(server, policy(.acceptNew, "\(dir)/revoked")))
        }
        #expect(revoked?.message.contains("\(dir)/revoked:2") == true)
    }

    @Test(
        "a changed key gets no password: refused before authentication, or with checking off, password dropped",
        .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"), arguments: Engine.all)
    func changedKeyGetsNoPassword(engine: Engine) async throws {
        let user = try #require(try await PasswordUser.prepared)
        let server = try await TestSSHServer.start(host: "127.0.0.2")
        defer { server.stop() }
        let dir = try scratchDirectory("hk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[127.0.0.2]:\(server.port) \(Self.publicKey(TestKeys.shared.otherHostKeys.ed25519))\n"
            .write(toFile: "\(dir)/changed", atomically: true, encoding: .utf8)
        let wrong: [SSHAuthMethod] = [.password("not-\(user.password)")]
        let ended = server.endedConnections
        await expectSSHError(.hostKeyChanged) {
            try await engine.backend.connect(options(server, policy(.strict, "\(dir)/changed"), auth: wrong))
        }
        // With checking off the connection goes on, but password authentication is not offered to this server.
        let error = await expectSSHError(.authenticationFailed) {
            try await engine.backend.connect(options(server, policy(.off, "\(dir)/changed"), auth: wrong))
        }
        #expect(error?.attempts.contains { $0.method.hasPrefix("password") } == false, "\(error.map { "\($0)" } ?? "")")
        // Both connections ended in sshd's log: whatever it saw of them is there.
        try await server.waitForEndedConnections(ended + 2)
        #expect(!server.log.contains("Failed password"), "sshd saw a password:\n\(server.log)")
        // The control: with its key known, the same wrong password does reach the server (and fails there).
        try "[127.0.0.2]:\(server.port) \(Self.publicKey(TestKeys.shared.hostKey))\n"
            .write(toFile: "\(dir)/known", atomically: true, encoding: .utf8)
        await expectSSHError(.authenticationFailed) {
            try await engine.backend.connect(options(server, policy(.strict, "\(dir)/known"), auth: wrong))
        }
        try await waitUntil("sshd logging the wrong password") { server.log.contains("Failed password") }
    }

    @Test(
        "accept-new for 200 connections at once: each name written once, hashed, found by ssh-keygen -F; then all known",
        arguments: Engine.all)
    func acceptNewConcurrently(engine: Engine) async throws {
        try await Exclusive.run { try await acceptNewConcurrentlyAlone(engine: engine) }
    }

    private func acceptNewConcurrentlyAlone(engine: Engine) async throws {
        let server = try await TestSSHServer.sharedStarted
        let dir = try scratchDirectory("hk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/known_hosts"
        // 100 names (HostKeyAlias), each connected to twice at once.
        let names = (0..<200).map { "alias-\($0 % 100)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in names {
                group.addTask {
                    let session = try await engine.backend.connect(
                        options(server, policy(.acceptNew, file, hashed: true, alias: name)))
                    await session.close()
                }
            }
            try await group.waitForAll()
        }
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        #expect(lines.allSatisfy { $0.hasPrefix("|1|") && $0.hasSuffix(try! Self.publicKey(TestKeys.shared.hostKey)) })
        for index in [0, 37, 99] {
            let found = try ProcessRunner.run(["/usr/bin/ssh-keygen", "-F", "alias-\(index)", "-f", file])
            #expect(found.contains("found: line"))
        }
        // A second run checks strictly against what the first wrote.
        for name in ["alias-5", "alias-64"] {
            let session = try await engine.backend.connect(options(server, policy(.strict, file, alias: name)))
            await session.close()
        }
    }

    @Test(
        "both engines negotiate the same key type against a server with ed25519, ECDSA and RSA keys",
        arguments: Engine.all)
    func sameKeyType(engine: Engine) async throws {
        let keys = TestKeys.shared.otherHostKeys
        let server = try await TestSSHServer.start(host: "127.0.0.3", hostKeys: [keys.ecdsa, keys.rsa, keys.ed25519])
        defer { server.stop() }
        let dir = try scratchDirectory("hk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Nothing known: OpenSSH's order, so ed25519, as `ssh` itself writes.
        let session = try await engine.backend.connect(options(server, policy(.acceptNew, "\(dir)/new")))
        await session.close()
        #expect(try String(contentsOfFile: "\(dir)/new", encoding: .utf8).contains(" ssh-ed25519 "))
        try await offPool { [self] in
            #expect(sshConnects(server, mode: "accept-new", file: "\(dir)/ssh-new"))
        }
        #expect(try String(contentsOfFile: "\(dir)/ssh-new", encoding: .utf8).contains(" ssh-ed25519 "))
        // Only the ECDSA key known: both offer ECDSA first and pass.
        try "[127.0.0.3]:\(server.port) \(Self.publicKey(keys.ecdsa))\n".write(
            toFile: "\(dir)/ecdsa", atomically: true, encoding: .utf8)
        let ecdsa = try await engine.backend.connect(options(server, policy(.strict, "\(dir)/ecdsa")))
        await ecdsa.close()
        // Only the RSA key known: libssh negotiates rsa-sha2 and passes; libssh2 1.10 cannot, and says so.
        try "[127.0.0.3]:\(server.port) \(Self.publicKey(keys.rsa))\n".write(
            toFile: "\(dir)/rsa", atomically: true, encoding: .utf8)
        if engine.backend.name == "libssh" {
            let rsa = try await engine.backend.connect(options(server, policy(.strict, "\(dir)/rsa")))
            await rsa.close()
        } else {
            let error = await expectSSHError(.hostKeyTypeUnsupported) {
                try await engine.backend.connect(options(server, policy(.strict, "\(dir)/rsa")))
            }
            #expect(error?.message.contains("RSA") == true)
        }
    }

    @Test(
        "ask: new hosts reach the prompter in one batch; its answers decide, and accepted keys are written",
        arguments: Engine.all)
    func askInBatches(engine: Engine) async throws {
        let server = try await TestSSHServer.sharedStarted
        let dir = try scratchDirectory("hk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/known_hosts"
        let batches = HostKeyPromptLog()
        let prompter = SSHHostKeyPrompter { questions in
            batches.record(questions)
            return questions.map { $0.host == "127.0.0.1" && !$0.fingerprint.isEmpty && $0.keyType == "ED25519" }
        }
        let names = (0..<6).map { "ask-\($0)" }
        let results = await withTaskGroup(of: Bool.self) { group in
            for name in names {
                group.addTask {
                    let policy = policy(.ask(prompter), file, alias: name)
                    guard let session = try? await engine.backend.connect(options(server, policy)) else { return false }
                    await session.close()
                    return true
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 })
        #expect(batches.count < 6, "questions arriving together are asked together (\(batches.count) batches)")
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 6)
        let refusing = SSHHostKeyPrompter { $0.map { _ in false } }
        let refused = await expectSSHError(.hostKeyUnknown) {
            try await engine.backend.connect(options(server, policy(.ask(refusing), file, alias: "ask-refused")))
        }
        #expect(refused?.message.contains("prompt") == true)
    }
}

/// The batches a test prompter received.
final class HostKeyPromptLog: Sendable {
    private let batches = Mutex<[[SSHHostKeyQuestion]]>([])
    func record(_ batch: [SSHHostKeyQuestion]) { batches.withLock { $0.append(batch) } }
    var count: Int { batches.withLock { $0.count } }
}
