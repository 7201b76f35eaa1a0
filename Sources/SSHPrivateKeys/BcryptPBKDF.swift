/// OpenBSD's `bcrypt_pbkdf`, the key derivation of OpenSSH's private key format (`openssh-key-v1`, kdf `bcrypt`):
/// PBKDF2's structure with bcrypt (SHA-512 collapsed inputs, 64 rounds of Blowfish key schedule) as its function.
enum BcryptPBKDF {
    private static let hashSize = 32
    private static let magic = Array("OxychromaticBlowfishSwatDynamite".utf8)

    /// `keyLength` bytes derived from `passphrase` and `salt` in `rounds` rounds; `nil` for arguments OpenSSH refuses.
    static func derive(passphrase: [UInt8], salt: [UInt8], rounds: Int, keyLength: Int) -> SecretBytes? {
        guard rounds >= 1, !passphrase.isEmpty, !salt.isEmpty, keyLength > 0,
            keyLength <= hashSize * hashSize, salt.count <= 1 << 20
        else { return nil }
        let stride = (keyLength + hashSize - 1) / hashSize
        var amount = (keyLength + stride - 1) / stride
        let key = SecretBytes(count: keyLength)
        var hashedPassphrase = LibCrypto.sha512(passphrase)
        defer { hashedPassphrase.wipe() }
        var remaining = keyLength
        var count: UInt32 = 1
        while remaining > 0 {
            let counter = [
                UInt8(count >> 24), UInt8((count >> 16) & 0xff), UInt8((count >> 8) & 0xff), UInt8(count & 0xff),
            ]
            var hashedSalt = LibCrypto.sha512(salt + counter)
            var block = hash(passphrase: hashedPassphrase, salt: hashedSalt)
            var output = block
            for _ in 1..<rounds {
                hashedSalt = LibCrypto.sha512(block)
                block = hash(passphrase: hashedPassphrase, salt: hashedSalt)
                for index in 0..<hashSize { output[index] ^= block[index] }
            }
            // The deviation from PBKDF2: output bytes are spread across the key, not laid end to end.
            amount = min(amount, remaining)
            var written = 0
            while written < amount {
                let destination = written * stride + Int(count - 1)
                if destination >= keyLength { break }
                key[destination] = output[written]
                written += 1
            }
            remaining -= written
            hashedSalt.wipe()
            block.wipe()
            output.wipe()
            count += 1
        }
        return key
    }

    /// `bcrypt_hash`: 32 bytes from the SHA-512 of the passphrase and of the salt.
    private static func hash(passphrase: [UInt8], salt: [UInt8]) -> [UInt8] {
        let cipher = Blowfish()
        passphrase.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { salt in
                cipher.expand(data: salt, key: pass)
                for _ in 0..<64 {
                    cipher.expand(key: salt)
                    cipher.expand(key: pass)
                }
            }
        }
        var words = [UInt32](repeating: 0, count: hashSize / 4)
        for index in 0..<words.count {
            let base = index * 4
            words[index] =
                UInt32(magic[base]) << 24 | UInt32(magic[base + 1]) << 16 | UInt32(magic[base + 2]) << 8
                | UInt32(magic[base + 3])
        }
        for _ in 0..<64 {
            var index = 0
            while index < words.count {
                var left = words[index]
                var right = words[index + 1]
                cipher.encipher(&left, &right)
                words[index] = left
                words[index + 1] = right
                index += 2
            }
        }
        // Little-endian out, as OpenBSD writes it.
        var out = [UInt8](repeating: 0, count: hashSize)
        for (index, word) in words.enumerated() {
            out[4 * index] = UInt8(word & 0xff)
            out[4 * index + 1] = UInt8((word >> 8) & 0xff)
            out[4 * index + 2] = UInt8((word >> 16) & 0xff)
            out[4 * index + 3] = UInt8(word >> 24)
        }
        return out
    }
}

extension Array where Element == UInt8 {
    /// Overwrites the bytes with zeros (for derived secrets held briefly).
    mutating func wipe() {
        withUnsafeMutableBytes { LibCrypto.cleanse($0) }
    }
}
