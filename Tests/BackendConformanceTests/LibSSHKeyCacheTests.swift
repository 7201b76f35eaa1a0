@testable import BackendLibSSH
import SSHBackend
import SSHTestSupport
import Testing

/// The libssh engine parses and decrypts a private key once per process (libssh2 1.10 offers no way to: see the
/// feature matrix's `auth.key-decrypted-once`). Beside the conformance suite, as it looks inside one engine.
@Suite("libssh key cache", .serialized)
struct LibSSHKeyCacheTests {
    @Test("20 connections at once with one passphrase-protected key decrypt it once; a wrong passphrase is tried once")
    func decryptedOnce() async throws {
        let keys = TestKeys.shared
        let server = try await TestSSHServer.sharedStarted
        let backend = LibSSHBackend()
        // The same key as text: a cache entry no other test shares.
        let text = SSHPrivateKeyData(keys.contents(of: keys.encrypted) + "\n")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let session = try await backend.connect(server.options(auth: [.privateKey(text, passphrase: keys.passphrase)]))
                    await session.close()
                }
            }
            try await group.waitForAll()
        }
        let parsed = LibSSHKeyCache.parseCount(contents: text.bytes, passphrase: keys.passphrase)
        #expect(parsed == 1, "\(parsed) parses for 20 sessions")
        for _ in 0..<5 {
            await expectSSHError(.invalidKey) {
                try await backend.connect(server.options(auth: [.privateKey(text, passphrase: "wrong")]))
            }
        }
        #expect(LibSSHKeyCache.parseCount(contents: text.bytes, passphrase: "wrong") == 1, "a wrong passphrase is tried once")
    }
}
