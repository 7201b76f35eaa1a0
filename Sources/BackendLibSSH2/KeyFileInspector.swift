#if canImport(Glibc)
import Glibc
#endif

/// Tells an RSA private key from others, to explain libssh2 1.10's RSA failure instead of a bare "denied".
enum KeyFileInspector {
    /// Whether the key file at `path` (or its `.pub` companion) holds an RSA key.
    static func isRSA(path: String) -> Bool {
        if let bytes = readSmallFile(path), isRSA(bytes: bytes) { return true }
        if let pub = readSmallFile(path + ".pub") { return pub.starts(with: Array("ssh-rsa ".utf8)) }
        return false
    }

    /// Whether the text of a key file holds an RSA key (PEM `RSA PRIVATE KEY`, or `ssh-rsa` in an OpenSSH key).
    static func isRSA(bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("BEGIN RSA PRIVATE KEY") { return true }
        guard text.contains("BEGIN OPENSSH PRIVATE KEY") else { return false }
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let blob = base64Decode(body) else { return false }
        // "openssh-key-v1\0", cipher, kdf, kdf options, key count, then the first public key whose first field is
        // its type name.
        let magic = Array("openssh-key-v1\0".utf8)
        guard blob.starts(with: magic) else { return false }
        var offset = magic.count
        func readString() -> [UInt8]? {
            guard offset + 4 <= blob.count else { return nil }
            let length = blob[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard length >= 0, offset + length <= blob.count else { return nil }
            defer { offset += length }
            return Array(blob[offset..<offset + length])
        }
        guard readString() != nil, readString() != nil, readString() != nil else { return false }
        offset += 4  // number of keys
        guard let publicKey = readString(), publicKey.count >= 11 else { return false }
        let typeLength = publicKey[0..<4].reduce(0) { $0 << 8 | Int($1) }
        guard 4 + typeLength <= publicKey.count else { return false }
        return Array(publicKey[4..<4 + typeLength]) == Array("ssh-rsa".utf8)
    }

    private static func readSmallFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 16 * 1024)
        let count = fread(&bytes, 1, bytes.count, file)
        return Array(bytes.prefix(count))
    }

    private static func base64Decode(_ text: String) -> [UInt8]? {
        var table = [Int](repeating: -1, count: 256)
        for (index, char) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(char)] = index
        }
        var output: [UInt8] = []
        var accumulator = 0
        var bits = 0
        for char in text.utf8 where char != UInt8(ascii: "=") && char != UInt8(ascii: "\r") {
            let value = table[Int(char)]
            if value < 0 { return nil }
            accumulator = (accumulator << 6) | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8((accumulator >> bits) & 0xFF))
            }
        }
        return output
    }
}
