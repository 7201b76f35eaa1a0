import Foundation
import SSHTestSupport
import Testing

@testable import SSHPrivateKeys

/// Private keys decrypted in the process (for the libssh2 engine, which would otherwise derive the key per
/// session), against `ssh-keygen` as the oracle: the keys it writes encrypted come out as the same key.
@Suite("Private key decryption")
struct PrivateKeyDecryptionTests {
    private static let keygen = "/usr/bin/ssh-keygen"

    /// A new key of `type`, encrypted with `passphrase` by `ssh-keygen` (with `extra` arguments), in `directory`.
    private func makeKey(
        _ directory: String, _ name: String, _ type: [String], passphrase: String,
        _ extra: [String] = []
    ) throws -> String {
        let path = "\(directory)/\(name)"
        try ProcessRunner.run([Self.keygen, "-q", "-f", path, "-N", passphrase, "-C", "test \(name)"] + type + extra)
        return path
    }

    /// The public key (type and base64) `ssh-keygen -y` reads from the private key `text`, with no passphrase.
    private func publicKey(ofUnencrypted text: [UInt8], in directory: String) throws -> String {
        let path = "\(directory)/decrypted-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ProcessRunner.run([Self.keygen, "-y", "-P", "", "-f", path]).split(whereSeparator: \.isWhitespace)
            .prefix(2).joined(separator: " ")
    }

    private func publicKey(fromFile path: String) throws -> String {
        try String(contentsOfFile: path + ".pub", encoding: .utf8).split(whereSeparator: \.isWhitespace).prefix(2)
            .joined(separator: " ")
    }

    private func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    private func plain(_ outcome: PrivateKeyDecryption.Outcome) -> [UInt8]? {
        guard case .decrypted(let secret, _) = outcome else { return nil }
        return secret.withUnsafeBytes { Array($0) }
    }

    @Test(
        "OpenSSH-format keys of every type and cipher ssh-keygen writes decrypt to the key ssh-keygen -p writes",
        arguments: [
            (["-t", "ed25519"], [String]()),
            (["-t", "ecdsa", "-b", "384"], ["-Z", "aes128-cbc"]),
            (["-t", "rsa", "-b", "2048"], ["-Z", "aes256-gcm@openssh.com"]),
            (["-t", "ed25519"], ["-Z", "aes192-ctr", "-a", "4"]),
        ])
    func openSSHFormat(type: [String], extra: [String]) throws {
        let directory = try scratchDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try makeKey(directory, "key", type, passphrase: "correct horse", extra)
        let text = try bytes(path)
        let outcome = PrivateKeyDecryption.decrypt(text, passphrase: "correct horse")
        let decrypted = try #require(plain(outcome), "\(outcome)")
        #expect(String(decoding: decrypted, as: UTF8.self).hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
        #expect(try publicKey(ofUnencrypted: decrypted, in: directory) == publicKey(fromFile: path))
        // The oracle's own decryption: the private fields (after the two check words, before the padding) match.
        try FileManager.default.copyItem(atPath: path, toPath: path + ".oracle")
        try ProcessRunner.run([Self.keygen, "-q", "-p", "-P", "correct horse", "-N", "", "-f", path + ".oracle"])
        #expect(try privateFields(decrypted) == privateFields(bytes(path + ".oracle")))
        #expect(try privateFields(decrypted)?.isEmpty == false)
    }

    /// The private part of an unencrypted OpenSSH key without its check words and padding.
    private func privateFields(_ text: [UInt8]) throws -> [UInt8]? {
        let file = try OpenSSHKeyFile.parse(text).get()
        guard !file.isEncrypted, file.encrypted.count > 8 else { return nil }
        var fields = Array(file.encrypted.dropFirst(8))
        // Padding is 1, 2, 3, … up to the block size.
        while let last = fields.last, last > 0, last < 16, fields.count >= Int(last),
            fields.suffix(Int(last)).elementsEqual(1...last)
        {
            fields.removeLast(Int(last))
        }
        return fields
    }

    @Test(
        "a wrong or missing passphrase is told apart from an unencrypted key; chacha20-poly1305 is left to the engine")
    func failures() throws {
        let directory = try scratchDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ctr = try bytes(makeKey(directory, "ctr", ["-t", "ed25519", "-a", "2"], passphrase: "right"))
        let gcm = try bytes(
            makeKey(
                directory, "gcm", ["-t", "ed25519", "-a", "2", "-Z", "aes256-gcm@openssh.com"],
                passphrase: "right"))
        let chacha = try bytes(
            makeKey(
                directory, "chacha", ["-t", "ed25519", "-a", "2", "-Z", "chacha20-poly1305@openssh.com"],
                passphrase: "right"))
        let open = try bytes(makeKey(directory, "open", ["-t", "ed25519"], passphrase: ""))
        for text in [ctr, gcm] {
            guard case .failed(.wrongPassphrase) = PrivateKeyDecryption.decrypt(text, passphrase: "wrong") else {
                Issue.record("a wrong passphrase is not reported as one")
                continue
            }
            guard case .failed(.passphraseNeeded) = PrivateKeyDecryption.decrypt(text, passphrase: nil) else {
                Issue.record("a missing passphrase is not reported as one")
                continue
            }
        }
        guard case .notEncrypted(let line?) = PrivateKeyDecryption.decrypt(open, passphrase: "anything") else {
            Issue.record("an unencrypted key is not passed through with its public key")
            return
        }
        #expect(String(decoding: line, as: UTF8.self) == (try publicKey(fromFile: "\(directory)/open")))
        guard case .failed(.unsupported(let reason)) = PrivateKeyDecryption.decrypt(chacha, passphrase: "right") else {
            Issue.record("chacha20-poly1305 is not reported as unsupported")
            return
        }
        #expect(reason.contains("chacha20-poly1305@openssh.com"))
        guard
            case .failed(.malformed) = PrivateKeyDecryption.decrypt(
                Array(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n"
                        .utf8),
                passphrase: "x")
        else {
            Issue.record("a truncated key is not reported as malformed")
            return
        }
    }

    @Test(
        "PEM keys encrypted by ssh-keygen (PKCS#1/SEC1 and PKCS#8) decrypt to the same key",
        arguments: ["PEM", "PKCS8"])
    func pemFormats(format: String) throws {
        let directory = try scratchDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for type in [["-t", "ecdsa"], ["-t", "rsa", "-b", "2048"]] {
            let path = try makeKey(directory, "pem-\(type[1])", type, passphrase: "pem pass", ["-m", format])
            let text = try bytes(path)
            #expect(!String(decoding: text, as: UTF8.self).contains("OPENSSH"))
            let decrypted = try #require(plain(PrivateKeyDecryption.decrypt(text, passphrase: "pem pass")))
            #expect(!String(decoding: decrypted, as: UTF8.self).contains("ENCRYPTED"))
            #expect(try publicKey(ofUnencrypted: decrypted, in: directory) == publicKey(fromFile: path))
            guard case .failed(.wrongPassphrase) = PrivateKeyDecryption.decrypt(text, passphrase: "nope") else {
                Issue.record("a wrong PEM passphrase is not reported as one")
                continue
            }
        }
    }
}
