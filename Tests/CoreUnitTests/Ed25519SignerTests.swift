import Foundation
import SSHTestSupport
import Testing

@testable import SSHPrivateKeys

/// The Ed25519 keys the libssh2 engine parses once and signs with in the process, against `ssh-keygen -Y sign` as the
/// oracle: Ed25519 signatures are deterministic (RFC 8032), so the same key signing the same bytes must give the
/// very signature `ssh-keygen` gives.
@Suite("Ed25519 signer")
struct Ed25519SignerTests {
    private static let keygen = "/usr/bin/ssh-keygen"

    /// The bytes `ssh-keygen -Y sign -n file` signs for `message` (OpenSSH's PROTOCOL.sshsig): the preamble, the
    /// namespace, an empty reserved field, the hash algorithm and the message's SHA-512.
    private func signedData(message: [UInt8], namespace: String) -> [UInt8] {
        var data = WireWriter(capacity: 256)
        data.append(Array("SSHSIG".utf8))
        data.string(Array(namespace.utf8))
        data.string([])
        data.string(Array("sha512".utf8))
        data.string(LibCrypto.sha512(message))
        return data.bytes
    }

    /// The 64-byte signature inside an armored SSH signature file.
    private func signature(inSSHSIG text: String) throws -> [UInt8] {
        let body = try #require(
            PEMArmor.body(
                of: Array(text.utf8), begin: "-----BEGIN SSH SIGNATURE-----", end: "-----END SSH SIGNATURE-----"))
        var reader = WireReader(body.dropFirst(6)[...])  // "SSHSIG"
        _ = reader.uint32()  // version
        for _ in 0..<4 { _ = reader.string() }  // public key, namespace, reserved, hash algorithm
        let field = reader.string()
        var blob = WireReader(try #require(field))
        let algorithm = blob.string().map { Array($0) }
        #expect(algorithm == Array("ssh-ed25519".utf8))
        let signature = blob.string()
        return Array(try #require(signature))
    }

    @Test("a key ssh-keygen made signs exactly as ssh-keygen -Y sign does; its public key is the .pub file's")
    func signsAsSSHKeygen() throws {
        let directory = try scratchDirectory("signer")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = "\(directory)/key"
        try ProcessRunner.run([Self.keygen, "-q", "-t", "ed25519", "-N", "", "-C", "signer test", "-f", key])
        let message = Array("the same bytes, the same signature\n".utf8)
        try Data(message).write(to: URL(fileURLWithPath: "\(directory)/message"))
        try ProcessRunner.run([Self.keygen, "-q", "-Y", "sign", "-f", key, "-n", "file", "\(directory)/message"])
        let oracle = try signature(inSSHSIG: String(contentsOfFile: "\(directory)/message.sig", encoding: .utf8))

        let signer = try #require(
            Ed25519Signer.load(unencrypted: Array(try Data(contentsOf: URL(fileURLWithPath: key)))))
        let ours = signedData(message: message, namespace: "file").withUnsafeBytes { signer.sign($0) }
        #expect(ours == oracle)
        let publicLine = try String(contentsOfFile: key + ".pub", encoding: .utf8).split(separator: " ")[1]
        #expect(signer.publicKeyBlob == Array(try #require(Data(base64Encoded: String(publicLine)))))
    }

    @Test("other keys are left to libssh2: RSA, ECDSA, and a key still encrypted")
    func otherKeys() throws {
        let directory = try scratchDirectory("signer")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, arguments) in [
            ("rsa", ["-t", "rsa", "-b", "2048", "-N", ""]), ("ecdsa", ["-t", "ecdsa", "-N", ""]),
            ("encrypted", ["-t", "ed25519", "-N", "correct horse"]),
        ] {
            try ProcessRunner.run([Self.keygen, "-q", "-C", name, "-f", "\(directory)/\(name)"] + arguments)
            let text = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
            #expect(Ed25519Signer.load(unencrypted: text) == nil, "\(name)")
        }
    }
}
