import SSHBackend
import SSHEngineCore
import SSHTestSupport
import Testing

@testable import BackendLibSSH
@testable import BackendLibSSH2

/// Both engines parse and decrypt a private key once per process (`auth.key-decrypted-once`): libssh keeps its
/// parsed key, and for libssh2, which cannot, the process decrypts the key itself and hands libssh2 the plain text.
/// Beside the conformance suite, as it counts parses inside each engine.
@Suite("Key cache", .serialized)
struct KeyCacheTests {
    /// How many times an engine parsed a key with a passphrase.
    private static func parses(_ engine: Engine, _ text: SSHPrivateKeyData, _ passphrase: String) -> Int {
        if engine.backend is LibSSH2Backend {
            return LibSSH2KeyCache.shared.parseCount(contents: text.bytes, passphrase: passphrase)
        }
        return LibSSHKeyCache.shared.parseCount(contents: text.bytes, passphrase: passphrase)
    }

    @Test(
        "20 connections at once with one passphrase-protected key decrypt it once; a wrong passphrase is tried once",
        arguments: Engine.all)
    func decryptedOnce(engine: Engine) async throws {
        let keys = TestKeys.shared
        let server = try await TestSSHServer.sharedStarted
        let backend = engine.backend
        #expect(backend.capabilities.contains(.keyDecryptedOnce))
        // The same key as text, with a trailing line of its own: a cache entry no other test shares.
        let text = SSHPrivateKeyData(keys.contents(of: keys.encrypted) + "\n\(backend.name)\n")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let session = try await backend.connect(
                        server.options(auth: [.privateKey(text, passphrase: keys.passphrase)]))
                    #expect(try await run(session, "echo decrypted-once").stdout == "decrypted-once\n")
                    await session.close()
                }
            }
            try await group.waitForAll()
        }
        let parsed = Self.parses(engine, text, keys.passphrase)
        #expect(parsed == 1, "\(parsed) parses for 20 sessions")
        for _ in 0..<5 {
            let error = await expectSSHError(.invalidKey) {
                try await backend.connect(server.options(auth: [.privateKey(text, passphrase: "wrong")]))
            }
            #expect(error?.description.contains("passphrase") == true, "\(String(describing: error))")
        }
        #expect(Self.parses(engine, text, "wrong") == 1, "a wrong passphrase is tried once")
    }
}
