import Foundation
import SSHBackend
import SSHTestSupport
import Testing

@testable import SSHEngineCore

@Suite("The server's algorithm offer")
struct ServerAlgorithmOfferTests {
    @Test("read from a real sshd, the offer is what `sshd -T` says it is configured with")
    func realServer() async throws {
        let server = try await TestSSHServer.start(extraConfig: [
            "Ciphers aes256-ctr,chacha20-poly1305@openssh.com", "MACs hmac-sha2-512,umac-128@openssh.com",
            "KexAlgorithms curve25519-sha256,diffie-hellman-group16-sha512",
        ])
        defer { server.stop() }
        let bytes = try await offPool { try Self.serverHello(host: server.host, port: server.port) }
        let offer = try #require(ServerAlgorithmOffer(serverStream: bytes))
        let effective = try ProcessRunner.run([TestSSHServer.sshdPath, "-T", "-f", server.directory + "/sshd_config"])
        func configured(_ keyword: String) -> [String] {
            effective.split(separator: "\n").first { $0.hasPrefix(keyword + " ") }
                .map { $0.dropFirst(keyword.count + 1).split(separator: ",").map(String.init) } ?? ["(missing)"]
        }
        #expect(offer.ciphers == configured("ciphers"))
        #expect(offer.macs == configured("macs"))
        // The server adds its own markers (strict key exchange, extension negotiation) to the configured methods.
        #expect(
            offer.keyExchange.filter { !$0.hasPrefix("kex-strict-") && !$0.hasPrefix("ext-info-") }
                == configured("kexalgorithms"))
        #expect(offer.hostKeys == ["ssh-ed25519"])
    }

    @Test("every prefix of a stream is incomplete, lines before the identification are skipped, other packets refused")
    func partialInput() throws {
        let stream =
            Array("a greeting\r\nSSH-2.0-Test\r\n".utf8)
            + Self.kexinit(ciphers: "aes128-ctr,chacha20-poly1305@openssh.com")
        let whole = try #require(ServerAlgorithmOffer(serverStream: stream))
        #expect(whole.ciphers == ["aes128-ctr", "chacha20-poly1305@openssh.com"])
        #expect(whole.keyExchange == ["curve25519-sha256"])
        for end in 0..<stream.count { #expect(ServerAlgorithmOffer(serverStream: Array(stream[..<end])) == nil) }
        var notKexinit = stream
        notKexinit[stream.count - Self.kexinit(ciphers: "aes128-ctr,chacha20-poly1305@openssh.com").count + 5] = 21
        #expect(ServerAlgorithmOffer(serverStream: notKexinit) == nil)
        #expect(ServerAlgorithmOffer(serverStream: Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8)) == nil)
    }

    @Test("a mismatch names both sides, kind by kind; an AEAD cipher in common needs no MAC in common")
    func mismatch() {
        let client = SSHAlgorithmSupport(
            hostKeys: ["ssh-ed25519"], ciphers: ["aes128-ctr"],
            keyExchange: ["curve25519-sha256"], macs: ["hmac-sha2-256"])
        let tiny = ServerAlgorithmOffer(
            keyExchange: ["curve25519-sha256", "kex-strict-s-v00@openssh.com"],
            hostKeys: ["ssh-ed25519"], ciphers: ["chacha20-poly1305@openssh.com"],
            macs: ["hmac-sha2-256"])
        #expect(
            tiny.mismatch(with: client, clientName: "libssh2 1.10.0")
                == "no common cipher: the server offers chacha20-poly1305@openssh.com; libssh2 1.10.0 has aes128-ctr")
        var modern = client
        modern.ciphers = ["chacha20-poly1305@openssh.com"]
        modern.macs = ["hmac-sha1"]
        #expect(tiny.mismatch(with: modern, clientName: "x") == nil)
        let etmOnly = ServerAlgorithmOffer(
            keyExchange: ["sntrup761x25519-sha512@openssh.com"], hostKeys: ["rsa-sha2-512"],
            ciphers: ["aes128-ctr"], macs: ["hmac-sha2-256-etm@openssh.com"])
        let text = etmOnly.mismatch(with: client, clientName: "c") ?? ""
        #expect(
            text.contains(
                "no common key exchange: the server offers sntrup761x25519-sha512@openssh.com; c has curve25519-sha256")
        )
        #expect(text.contains("no common host-key algorithm"))
        #expect(text.contains("no common MAC: the server offers hmac-sha2-256-etm@openssh.com; c has hmac-sha2-256"))
        #expect(!text.contains("cipher"))
    }

    /// A KEXINIT packet (unencrypted framing) with the given ciphers.
    static func kexinit(ciphers: String) -> [UInt8] {
        func string(_ text: String) -> [UInt8] {
            let bytes = Array(text.utf8)
            return withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init) + bytes
        }
        var payload: [UInt8] = [20] + [UInt8](repeating: 7, count: 16)
        for list in [
            "curve25519-sha256", "ssh-ed25519", ciphers, ciphers, "hmac-sha2-256", "hmac-sha2-256",
            "none", "none", "", "",
        ] { payload += string(list) }
        payload += [0, 0, 0, 0, 0]
        let padding = 8 - (payload.count + 5) % 8 + 4
        let length = UInt32(1 + payload.count + padding)
        return withUnsafeBytes(of: length.bigEndian, Array.init) + [UInt8(padding)] + payload
            + [UInt8](repeating: 0, count: padding)
    }

    /// Connects to an SSH server, sends an identification string and reads until its KEXINIT is complete.
    static func serverHello(host: String, port: Int) throws -> [UInt8] {
        let connection = try TestTCPConnection(host: host, port: port)
        defer { connection.close() }
        connection.send(Array("SSH-2.0-offer-probe\r\n".utf8))
        var bytes: [UInt8] = []
        while ServerAlgorithmOffer(serverStream: bytes) == nil {
            let chunk = connection.receive()
            guard !chunk.isEmpty else { throw TestSupportError("the server sent no KEXINIT: \(bytes.count) bytes") }
            bytes += chunk
        }
        return bytes
    }
}
