import CLibCrypto

/// An Ed25519 private key parsed once and held by libcrypto for the life of the process, signing user
/// authentication requests for an engine whose C library would otherwise parse the key file again for every
/// session (libssh2 1.10: `libssh2_userauth_publickey_frommemory` runs libcrypto's PEM decoders, then its own
/// OpenSSH parser, on each connection). libcrypto allows concurrent signing with one key, which is never changed
/// once made.
package final class Ed25519Signer: @unchecked Sendable {
    /// The `EVP_PKEY`.
    private let key: OpaquePointer
    /// The public key as SSH sends it: string `ssh-ed25519`, string the 32-byte key.
    package let publicKeyBlob: [UInt8]

    private init(key: OpaquePointer, publicKeyBlob: [UInt8]) {
        self.key = key
        self.publicKeyBlob = publicKeyBlob
    }

    deinit { EVP_PKEY_free(key) }

    /// The signer for an unencrypted OpenSSH-format key file holding one Ed25519 key; `nil` for any other key (an
    /// encrypted file, another type or format, a malformed or inconsistent private part).
    package static func load(unencrypted text: some Collection<UInt8>) -> Ed25519Signer? {
        var copy = Array(text)
        defer { copy.wipe() }
        guard case .success(let file) = OpenSSHKeyFile.parse(copy), !file.isEncrypted,
            file.publicKeys.count == 1, file.keyType == "ssh-ed25519", let blob = file.publicKeys.first
        else { return nil }
        // The private part: two equal check words, then type, public key, private key (seed and public key), comment.
        var part = WireReader(file.encrypted)
        guard let first = part.uint32(), let second = part.uint32(), first == second,
            let type = part.string(), type.elementsEqual("ssh-ed25519".utf8),
            let publicKey = part.string(), publicKey.count == 32, let secret = part.string(), secret.count == 64,
            secret.suffix(32).elementsEqual(publicKey), blob.suffix(32).elementsEqual(publicKey)
        else { return nil }
        var seed = Array(secret.prefix(32))
        defer { seed.wipe() }
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, 32) else { return nil }
        return Ed25519Signer(key: key, publicKeyBlob: blob)
    }

    /// The signature of `data` (the 64 bytes, without the algorithm name the SSH signature blob puts before them,
    /// as the C libraries' signing callbacks want it), or `nil` if libcrypto fails.
    package func sign(_ data: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1 else { return nil }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = signature.count
        guard EVP_DigestSign(context, &signature, &length, data.baseAddress, data.count) == 1, length == 64 else {
            return nil
        }
        return signature
    }
}
