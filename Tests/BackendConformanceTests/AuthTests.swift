import Foundation
import SSHBackend
import SSHTestSupport
import Synchronization
import Testing

@Suite("Authentication")
struct AuthTests {
    let keys = TestKeys.shared

    /// Connects with `auth`, runs `whoami`, and returns its output.
    private func whoami(
        _ engine: Engine, _ auth: [SSHAuthMethod], server: TestSSHServer? = nil,
        user: String = TestUser.name
    ) async throws -> String {
        let target: TestSSHServer
        if let server { target = server } else { target = try await TestSSHServer.sharedStarted }
        let session = try await engine.backend.connect(target.options(user: user, auth: auth))
        let result = try await run(session, "id -un")
        await session.close()
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("ed25519 key file", arguments: Engine.all)
    func ed25519KeyFile(engine: Engine) async throws {
        #expect(try await whoami(engine, [.privateKeyFile(path: keys.ed25519)]) == TestUser.name)
    }

    @Test("ECDSA key file", arguments: Engine.all)
    func ecdsaKeyFile(engine: Engine) async throws {
        #expect(try await whoami(engine, [.privateKeyFile(path: keys.ecdsa)]) == TestUser.name)
    }

    @Test("encrypted key file with its passphrase", arguments: Engine.all)
    func encryptedKeyFile(engine: Engine) async throws {
        let auth: [SSHAuthMethod] = [.privateKeyFile(path: keys.encrypted, passphrase: keys.passphrase)]
        #expect(try await whoami(engine, auth) == TestUser.name)
    }

    @Test("encrypted key file with a wrong passphrase fails as invalidKey", arguments: Engine.all)
    func wrongPassphrase(engine: Engine) async throws {
        let error = await expectSSHError(.invalidKey) {
            try await engine.connect(auth: [.privateKeyFile(path: keys.encrypted, passphrase: "wrong")])
        }
        #expect(error?.host == TestSSHServer.shared.host)
        #expect(error?.description.contains(keys.encrypted) == true)
    }

    @Test("missing key file fails as invalidKey naming the path", arguments: Engine.all)
    func missingKeyFile(engine: Engine) async throws {
        let path = keys.directory + "/does-not-exist"
        let error = await expectSSHError(.invalidKey) { try await engine.connect(auth: [.privateKeyFile(path: path)]) }
        #expect(error?.description.contains(path) == true)
    }

    @Test("private key from memory", arguments: Engine.all)
    func keyFromMemory(engine: Engine) async throws {
        let key = SSHPrivateKeyData(keys.contents(of: keys.ed25519))
        #expect(try await whoami(engine, [.privateKey(key)]) == TestUser.name)
    }

    @Test("encrypted private key from memory with its passphrase", arguments: Engine.all)
    func encryptedKeyFromMemory(engine: Engine) async throws {
        let key = SSHPrivateKeyData(keys.contents(of: keys.encrypted))
        #expect(try await whoami(engine, [.privateKey(key, passphrase: keys.passphrase)]) == TestUser.name)
    }

    @Test("SSH agent", arguments: Engine.all)
    func agent(engine: Engine) async throws {
        let agent = try await TestAgent.start(keys: [keys.ed25519])
        defer { agent.stop() }
        #expect(try await whoami(engine, [.agent(socketPath: agent.socketPath)]) == TestUser.name)
    }

    @Test("an agent holding only unknown keys fails with the attempt listed", arguments: Engine.all)
    func agentWithWrongKeys(engine: Engine) async throws {
        let agent = try await TestAgent.start(keys: [keys.unauthorized])
        defer { agent.stop() }
        let error = await expectSSHError(.authenticationFailed) {
            try await engine.connect(auth: [.agent(socketPath: agent.socketPath)])
        }
        #expect(error?.attempts.first?.method.contains("agent") == true)
    }

    @Test("default identity files when nothing else is given", arguments: Engine.all)
    func defaultIdentities(engine: Engine) async throws {
        let home = keys.directory + "/home-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: keys.ed25519, toPath: home + "/id_ed25519")
        #expect(try await whoami(engine, [.defaultIdentities(directory: home)]) == TestUser.name)
    }

    @Test("a key the server does not know fails as authenticationFailed", arguments: Engine.all)
    func wrongKey(engine: Engine) async throws {
        let error = await expectSSHError(.authenticationFailed) {
            try await engine.connect(auth: [.privateKeyFile(path: keys.unauthorized)])
        }
        #expect(error?.attempts.count == 1)
        #expect(error?.attempts.first?.outcome.contains("denied") == true)
        #expect(error?.port == TestSSHServer.shared.port)
    }

    @Test("methods are tried in order until one works", arguments: Engine.all)
    func fallsThroughMethods(engine: Engine) async throws {
        let auth: [SSHAuthMethod] = [.privateKeyFile(path: keys.unauthorized), .privateKeyFile(path: keys.ed25519)]
        #expect(try await whoami(engine, auth) == TestUser.name)
    }

    @Test("no method left: the server offers none of ours", arguments: Engine.all)
    func noMethodsLeft(engine: Engine) async throws {
        let server = try await TestSSHServer.start(extraConfig: ["AuthenticationMethods publickey"])
        defer { server.stop() }
        let error = await expectSSHError(.authenticationFailed) {
            try await engine.backend.connect(server.options(auth: [.password("x")]))
        }
        #expect(error?.attempts.first?.outcome.contains("not offered") == true)
    }

    @Test("RSA user key: works where rsa-sha2 is supported, else explains why not", arguments: Engine.all)
    func rsaKey(engine: Engine) async throws {
        if engine.backend.supports(.rsaSHA2UserKeys) {
            #expect(try await whoami(engine, [.privateKeyFile(path: keys.rsa)]) == TestUser.name)
        } else {
            let error = await expectSSHError(.authenticationFailed) {
                try await engine.connect(auth: [.privateKeyFile(path: keys.rsa)])
            }
            #expect(error?.description.contains("ed25519") == true, "\(String(describing: error))")
        }
    }

    @Test("OpenSSH user certificate: works where supported, else says it is not supported", arguments: Engine.all)
    func certificate(engine: Engine) async throws {
        let auth: [SSHAuthMethod] = [.certificate(keyPath: keys.certified, certificatePath: keys.certificate)]
        if engine.backend.supports(.userCertificates) {
            #expect(try await whoami(engine, auth) == TestUser.name)
        } else {
            let error = await expectSSHError(.authenticationFailed) { try await engine.connect(auth: auth) }
            #expect(error?.attempts.first?.outcome.contains("not supported") == true, "\(String(describing: error))")
        }
        // The key alone is not authorized: the certificate is what let it in.
        await expectSSHError(.authenticationFailed) {
            try await engine.connect(auth: [.privateKeyFile(path: keys.certified)])
        }
    }

    @Test("a certificate file that does not exist fails as invalidKey naming it", arguments: Engine.all)
    func missingCertificate(engine: Engine) async throws {
        let path = keys.directory + "/no-such-cert.pub"
        let error = await expectSSHError(.invalidKey) {
            try await engine.connect(auth: [.certificate(keyPath: keys.certified, certificatePath: path)])
        }
        #expect(error?.description.contains(path) == true)
    }

    @Test(
        "password", .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"),
        arguments: Engine.all)
    func password(engine: Engine) async throws {
        let user = try #require(try await PasswordUser.prepared)
        #expect(try await whoami(engine, [.password(user.password)], user: user.name) == user.name)
    }

    @Test(
        "wrong password fails as authenticationFailed",
        .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"), arguments: Engine.all)
    func wrongPassword(engine: Engine) async throws {
        let user = try #require(try await PasswordUser.prepared)
        let error = await expectSSHError(.authenticationFailed) {
            try await engine.backend.connect(TestSSHServer.shared.options(user: user.name, auth: [.password("nope")]))
        }
        #expect(error?.attempts.first?.method == "password")
    }

    @Test(
        "keyboard-interactive (through PAM)",
        .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"), arguments: Engine.all)
    func keyboardInteractive(engine: Engine) async throws {
        let user = try #require(try await PasswordUser.prepared)
        let server = try await TestSSHServer.start(extraConfig: ["UsePAM yes"])
        defer { server.stop() }
        let prompts = PromptLog()
        let responder = SSHKeyboardInteractiveResponder { prompt in
            prompts.append(prompt.prompt)
            return user.password
        }
        do {
            let session = try await engine.backend.connect(
                server.options(user: user.name, auth: [.keyboardInteractive(responder)]))
            await session.close()
        } catch {
            Issue.record("\(error)\nserver log:\n\(server.log)")
        }
        #expect(prompts.all.contains { $0.lowercased().contains("password") })
    }
}

/// Collects keyboard-interactive prompts across threads.
final class PromptLog: Sendable {
    private let prompts = Mutex<[String]>([])
    func append(_ prompt: String) { prompts.withLock { $0.append(prompt) } }
    var all: [String] { prompts.withLock { $0 } }
}
