import CLibCrypto

/// OpenSSH's private key format (`-----BEGIN OPENSSH PRIVATE KEY-----`, `openssh-key-v1`): the container read, the
/// private part decrypted with bcrypt_pbkdf and the cipher named in it, and the same key written back unencrypted.
struct OpenSSHKeyFile {
    static let armorBegin = "-----BEGIN OPENSSH PRIVATE KEY-----"
    static let armorEnd = "-----END OPENSSH PRIVATE KEY-----"
    private static let magic = Array("openssh-key-v1\0".utf8)

    let cipherName: String
    let kdfName: String
    let kdfOptions: [UInt8]
    let publicKeys: [[UInt8]]
    let encrypted: ArraySlice<UInt8>
    let tag: ArraySlice<UInt8>

    /// Reads the container from the key file's text; `nil` with the reason when it is not one.
    static func parse(_ text: [UInt8]) -> Result<OpenSSHKeyFile, PrivateKeyDecryption.Failure> {
        guard let blob = PEMArmor.body(of: text, begin: armorBegin, end: armorEnd) else {
            return .failure(.malformed("not an OpenSSH private key (no \(armorBegin) block)"))
        }
        guard blob.starts(with: magic) else {
            return .failure(.malformed("the key does not start with openssh-key-v1"))
        }
        var reader = WireReader(blob[magic.count...])
        guard let cipher = reader.string(), let kdf = reader.string(), let options = reader.string(),
            let count = reader.uint32(), count >= 1, count <= 16
        else { return .failure(.malformed("the key's header is truncated")) }
        var publicKeys: [[UInt8]] = []
        for _ in 0..<count {
            guard let key = reader.string() else { return .failure(.malformed("a public key is truncated")) }
            publicKeys.append(Array(key))
        }
        guard let encrypted = reader.string() else { return .failure(.malformed("the private part is truncated")) }
        return .success(
            OpenSSHKeyFile(
                cipherName: String(decoding: cipher, as: UTF8.self), kdfName: String(decoding: kdf, as: UTF8.self),
                kdfOptions: Array(options), publicKeys: publicKeys, encrypted: encrypted, tag: reader.rest))
    }

    /// The key's public half as a `.pub` file line without comment (`ssh-ed25519 AAAA…`), when the file holds one key.
    var publicKeyLine: [UInt8]? {
        guard publicKeys.count == 1, let blob = publicKeys.first, let type = keyType else { return nil }
        var encoded = [UInt8](repeating: 0, count: (blob.count + 2) / 3 * 4 + 1)
        let length = EVP_EncodeBlock(&encoded, blob, Int32(blob.count))
        return Array(type.utf8) + [UInt8(ascii: " ")] + encoded.prefix(Int(length))
    }

    /// The type its first public key names (`ssh-ed25519`, `ssh-rsa`, …).
    var keyType: String? {
        guard let blob = publicKeys.first else { return nil }
        var reader = WireReader(blob[...])
        guard let type = reader.string(), !type.isEmpty else { return nil }
        return String(decoding: type, as: UTF8.self)
    }

    /// Whether the private part is encrypted.
    var isEncrypted: Bool { cipherName != "none" }

    /// The private part decrypted with `passphrase`, as unencrypted key text.
    func decrypt(passphrase: String, maximumRounds: Int) -> Result<SecretBytes, PrivateKeyDecryption.Failure> {
        guard let cipher = LibCrypto.Cipher.named(cipherName) else {
            return .failure(.unsupported("the key is encrypted with \(cipherName), which this process cannot decrypt"))
        }
        guard kdfName == "bcrypt" else { return .failure(.unsupported("the key uses the \(kdfName) key derivation")) }
        var options = WireReader(kdfOptions[...])
        guard let salt = options.string(), let rounds = options.uint32(), rounds >= 1, rounds <= maximumRounds else {
            return .failure(.malformed("the key's bcrypt options are malformed"))
        }
        guard encrypted.count >= cipher.blockSize, encrypted.count % cipher.blockSize == 0,
            tag.count == cipher.tagLength
        else { return .failure(.malformed("the private part's length does not fit \(cipherName)")) }
        guard !passphrase.isEmpty else { return .failure(.passphraseNeeded) }
        var passphraseBytes = Array(passphrase.utf8)
        defer { passphraseBytes.wipe() }
        guard
            let derived = BcryptPBKDF.derive(
                passphrase: passphraseBytes, salt: Array(salt), rounds: Int(rounds),
                keyLength: cipher.keyLength + cipher.ivLength)
        else { return .failure(.malformed("the key's bcrypt options are out of range")) }
        let key = derived.slice(0..<cipher.keyLength)
        let iv = derived.slice(cipher.keyLength..<derived.count)
        guard let plain = cipher.decrypt(encrypted, key: key, iv: iv, tag: tag) else {
            return .failure(.wrongPassphrase)  // a GCM tag that does not match
        }
        // Two equal random words open the private part: the check OpenSSH makes for the passphrase.
        let checked = plain.withUnsafeBytes { bytes in
            bytes.count >= 8 && bytes.prefix(4).elementsEqual(bytes[4..<8])
        }
        guard checked else { return .failure(.wrongPassphrase) }
        return .success(unencrypted(privatePart: plain))
    }

    /// The same keys with cipher and kdf `none`, armored as `ssh-keygen` writes them (70 columns).
    private func unencrypted(privatePart: SecretBytes) -> SecretBytes {
        var blob = WireWriter(
            capacity: Self.magic.count + 64 + publicKeys.reduce(0) { $0 + 4 + $1.count } + privatePart.count)
        blob.append(Self.magic)
        blob.string(Array("none".utf8))
        blob.string(Array("none".utf8))
        blob.string([])
        blob.uint32(UInt32(publicKeys.count))
        for key in publicKeys { blob.string(key) }
        privatePart.withUnsafeBytes { blob.string($0) }
        defer { blob.wipe() }
        return PEMArmor.armor(blob.bytes, begin: Self.armorBegin, end: Self.armorEnd)
    }
}

/// Big-endian SSH wire fields read from a byte slice.
struct WireReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    /// What has not been read.
    var rest: ArraySlice<UInt8> { bytes }

    mutating func uint32() -> UInt32? {
        guard bytes.count >= 4 else { return nil }
        let value = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        bytes = bytes.dropFirst(4)
        return value
    }

    mutating func string() -> ArraySlice<UInt8>? {
        guard let length = uint32(), Int(length) <= bytes.count else { return nil }
        let value = bytes.prefix(Int(length))
        bytes = bytes.dropFirst(Int(length))
        return value
    }
}

/// Big-endian SSH wire fields written into a buffer reserved up front (so a secret is never left behind in a
/// reallocated copy).
struct WireWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ data: [UInt8]) { bytes += data }

    mutating func uint32(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    mutating func string(_ data: [UInt8]) {
        uint32(UInt32(data.count))
        bytes += data
    }

    mutating func string(_ data: UnsafeRawBufferPointer) {
        uint32(UInt32(data.count))
        bytes += data
    }

    mutating func wipe() { bytes.wipe() }
}

/// PEM-style armor: the base64 body between a BEGIN and an END line.
enum PEMArmor {
    /// The decoded body between `begin` and `end`, or `nil`.
    static func body(of text: [UInt8], begin: String, end: String) -> [UInt8]? {
        guard let start = find(Array(begin.utf8), in: text[...]),
            let stop = find(Array(end.utf8), in: text[(start + begin.utf8.count)...])
        else { return nil }
        return base64Decoded(text[(start + begin.utf8.count)..<stop].filter { !isWhitespace($0) })
    }

    /// `encoded` (base64, no whitespace) decoded, or `nil` when it is not base64.
    static func base64Decoded(_ encoded: [UInt8]) -> [UInt8]? {
        guard !encoded.isEmpty, encoded.count % 4 == 0 else { return nil }
        var decoded = [UInt8](repeating: 0, count: encoded.count / 4 * 3)
        let length = EVP_DecodeBlock(&decoded, encoded, Int32(encoded.count))
        guard length >= 0 else { return nil }
        let padding = encoded.suffix(2).filter { $0 == UInt8(ascii: "=") }.count
        return Array(decoded.prefix(Int(length) - padding))
    }

    /// `bytes` base64-encoded between `begin` and `end`, 70 characters a line.
    static func armor(_ bytes: [UInt8], begin: String, end: String) -> SecretBytes {
        let encodedLength = (bytes.count + 2) / 3 * 4
        let encoded = SecretBytes(count: encodedLength + 1)
        encoded.withUnsafeMutableBytes { out in
            _ = EVP_EncodeBlock(out.bindMemory(to: UInt8.self).baseAddress, bytes, Int32(bytes.count))
        }
        let lines = (encodedLength + 69) / 70
        let total = begin.utf8.count + 1 + encodedLength + lines + end.utf8.count + 1
        let text = SecretBytes(count: total)
        var position = 0
        func put(_ byte: UInt8) {
            text[position] = byte
            position += 1
        }
        for byte in begin.utf8 { put(byte) }
        put(UInt8(ascii: "\n"))
        for index in 0..<encodedLength {
            put(encoded[index])
            if index % 70 == 69 || index == encodedLength - 1 { put(UInt8(ascii: "\n")) }
        }
        for byte in end.utf8 { put(byte) }
        put(UInt8(ascii: "\n"))
        return text
    }

    /// Where `needle` first starts in `haystack` (an index of `haystack`'s base), or `nil`.
    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index <= haystack.endIndex - needle.count {
            if haystack[index] == first, haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            || byte == UInt8(ascii: "\t")
    }
}
