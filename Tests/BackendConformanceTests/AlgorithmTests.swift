import Foundation
import SSHBackend
import SSHTestSupport
import Testing

/// Algorithm preferences (ssh_config's Ciphers, KexAlgorithms, MACs) reach both engines, limited to what each
/// supports; a list with nothing supported fails clearly, naming what the engine has.
@Suite("Algorithms", .timeLimit(.minutes(10)))
struct AlgorithmTests {
    @Test(
        "a cipher, MAC and key exchange asked for are the ones negotiated (sshd's debug log as witness)",
        arguments: Engine.all)
    func preferencesNegotiated(engine: Engine) async throws {
        let server = try await TestSSHServer.start(host: "127.0.0.3", extraConfig: ["LogLevel DEBUG1"])
        defer { server.stop() }
        var options = server.options()
        options.algorithms = SSHAlgorithms(
            ciphers: ["aes256-ctr"], keyExchange: ["ecdh-sha2-nistp384"],
            macs: ["hmac-sha2-512"])
        let session = try await engine.backend.connect(options)
        #expect(try await run(session, "echo ok").stdout == "ok\n")
        await session.close()
        try await waitUntil("sshd logging the key exchange") { server.log.contains("kex: client->server cipher") }
        #expect(server.log.contains("kex: algorithm: ecdh-sha2-nistp384"), "\(server.log.suffix(2000))")
        #expect(server.log.contains("kex: client->server cipher: aes256-ctr MAC: hmac-sha2-512"))
    }

    @Test("chacha20-poly1305 alone: libssh negotiates it; libssh2 1.10 lacks it and says so", arguments: Engine.all)
    func unsupportedCipher(engine: Engine) async throws {
        let server = try await TestSSHServer.sharedStarted
        var options = server.options()
        options.algorithms = SSHAlgorithms(ciphers: ["chacha20-poly1305@openssh.com"])
        if engine.backend.name == "libssh" {
            let session = try await engine.backend.connect(options)
            await session.close()
        } else {
            let error = await expectSSHError(.unsupported) { try await engine.backend.connect(options) }
            #expect(error?.message.contains("chacha20-poly1305@openssh.com") == true)
            #expect(error?.message.contains("aes128-ctr") == true, "names what the engine has")
        }
        options.algorithms = SSHAlgorithms(keyExchange: ["no-such-kex@example.com"])
        await expectSSHError(.unsupported) { try await engine.backend.connect(options) }
    }

    @Test(
        "a server offering only chacha20-poly1305: libssh connects; libssh2 fails saying what it lacks",
        arguments: Engine.all)
    func serverWithOnlyChaCha(engine: Engine) async throws {
        let server = try await TestSSHServer.start(
            host: "127.0.0.3", extraConfig: ["Ciphers chacha20-poly1305@openssh.com"])
        defer { server.stop() }
        if engine.backend.name == "libssh" {  // libssh 0.10 has chacha20-poly1305; libssh2 1.10 does not
            let session = try await engine.backend.connect(server.options())
            #expect(try await run(session, "echo ok").stdout == "ok\n")
            await session.close()
        } else {
            let error = await expectSSHError(.handshakeFailed) { try await engine.backend.connect(server.options()) }
            // Both sides named: what the server offered (read from its KEXINIT) and what libssh2 has.
            #expect(
                error?.message.contains(
                    "no common cipher: the server offers chacha20-poly1305@openssh.com; "
                        + "libssh2 1.10") == true, "\(error.map { "\($0)" } ?? "")")
            #expect(error?.message.contains("aes128-ctr") == true)
            #expect(error?.message.contains("libssh engine") == true)
        }
    }
}
