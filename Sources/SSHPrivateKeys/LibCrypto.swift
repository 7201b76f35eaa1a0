import CLibCrypto

/// The few libcrypto (OpenSSL) calls private key decryption needs: SHA-512, AES and legacy PEM keys.
enum LibCrypto {
    /// SHA-512 of `bytes`.
    static func sha512(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        bytes.withUnsafeBytes { input in
            _ = EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha512(), nil)
        }
        return digest
    }

    /// Overwrites `bytes` with zeros in a way the compiler keeps.
    static func cleanse(_ bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        OPENSSL_cleanse(base, bytes.count)
    }

    /// A cipher OpenSSH may encrypt a private key with, as libcrypto names it.
    struct Cipher {
        /// OpenSSH's name (`aes256-ctr`, `aes256-gcm@openssh.com`, …).
        let name: String
        let keyLength: Int
        let ivLength: Int
        let blockSize: Int
        /// The length of the authentication tag after the encrypted data (GCM), else 0.
        let tagLength: Int
        fileprivate let make: () -> OpaquePointer?

        /// The ciphers `ssh-keygen -Z` offers that libcrypto provides (all but chacha20-poly1305@openssh.com, whose
        /// OpenSSH framing libcrypto does not offer).
        static func named(_ name: String) -> Cipher? {
            switch name {
            case "aes128-ctr":
                Cipher(name: name, keyLength: 16, ivLength: 16, blockSize: 16, tagLength: 0) { EVP_aes_128_ctr() }
            case "aes192-ctr":
                Cipher(name: name, keyLength: 24, ivLength: 16, blockSize: 16, tagLength: 0) { EVP_aes_192_ctr() }
            case "aes256-ctr":
                Cipher(name: name, keyLength: 32, ivLength: 16, blockSize: 16, tagLength: 0) { EVP_aes_256_ctr() }
            case "aes128-cbc":
                Cipher(name: name, keyLength: 16, ivLength: 16, blockSize: 16, tagLength: 0) { EVP_aes_128_cbc() }
            case "aes192-cbc":
                Cipher(name: name, keyLength: 24, ivLength: 16, blockSize: 16, tagLength: 0) { EVP_aes_192_cbc() }
            case "aes256-cbc":
                Cipher(name: name, keyLength: 32, ivLength: 16, blockSize: 16, tagLength: 0) { EVP_aes_256_cbc() }
            case "aes128-gcm@openssh.com":
                Cipher(name: name, keyLength: 16, ivLength: 12, blockSize: 16, tagLength: 16) { EVP_aes_128_gcm() }
            case "aes256-gcm@openssh.com":
                Cipher(name: name, keyLength: 32, ivLength: 12, blockSize: 16, tagLength: 16) { EVP_aes_256_gcm() }
            default: nil
            }
        }

        /// Decrypts `data` (a whole number of blocks) with `key` and `iv`, checking `tag` for GCM; `nil` when
        /// libcrypto refuses or the tag does not match (a wrong passphrase).
        func decrypt(_ data: ArraySlice<UInt8>, key: SecretBytes, iv: SecretBytes, tag: ArraySlice<UInt8>)
            -> SecretBytes?
        {
            guard let context = EVP_CIPHER_CTX_new() else { return nil }
            defer { EVP_CIPHER_CTX_free(context) }
            let output = SecretBytes(count: data.count + blockSize)
            var produced: Int32 = 0
            var finished: Int32 = 0
            let ok: Bool = key.withUnsafeBytes { key in
                iv.withUnsafeBytes { iv in
                    output.withUnsafeMutableBytes { out in
                        let out = out.bindMemory(to: UInt8.self).baseAddress
                        let keyBytes = key.bindMemory(to: UInt8.self).baseAddress
                        let ivBytes = iv.bindMemory(to: UInt8.self).baseAddress
                        guard EVP_DecryptInit_ex(context, make(), nil, nil, nil) == 1 else { return false }
                        if tagLength > 0,
                            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(ivLength), nil) != 1
                        {
                            return false
                        }
                        guard EVP_DecryptInit_ex(context, nil, nil, keyBytes, ivBytes) == 1,
                            EVP_CIPHER_CTX_set_padding(context, 0) == 1
                        else { return false }
                        if tagLength > 0 {
                            var tagCopy = Array(tag)
                            guard tagCopy.count == tagLength,
                                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagLength), &tagCopy) == 1
                            else { return false }
                        }
                        let updated = data.withUnsafeBufferPointer {
                            EVP_DecryptUpdate(context, out, &produced, $0.baseAddress, Int32($0.count))
                        }
                        guard updated == 1 else { return false }
                        return EVP_DecryptFinal_ex(context, out.map { $0 + Int(produced) }, &finished) == 1
                    }
                }
            }
            guard ok else { return nil }
            return output.slice(0..<Int(produced + finished))
        }
    }

    /// A PEM private key (PKCS#1, SEC1 or PKCS#8, encrypted or not) decrypted with `passphrase` and written back
    /// unencrypted in its traditional form, which libssh2 reads; `nil` when libcrypto cannot read it with it.
    static func decryptPEM(_ text: [UInt8], passphrase: String) -> SecretBytes? {
        ERR_clear_error()
        defer { ERR_clear_error() }
        let key: OpaquePointer? = text.withUnsafeBytes { bytes in
            guard let input = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(input) }
            var secret = Array(passphrase.utf8CString)
            defer { secret.withUnsafeMutableBytes { cleanse($0) } }
            return secret.withUnsafeMutableBufferPointer {
                PEM_read_bio_PrivateKey(input, nil, nil, $0.baseAddress)
            }
        }
        guard let key else { return nil }
        defer { EVP_PKEY_free(key) }
        guard let output = BIO_new(BIO_s_secmem()) ?? BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(output) }
        guard PEM_write_bio_PrivateKey_traditional(output, key, nil, nil, 0, nil, nil) == 1 else { return nil }
        var data: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(output, BIO_CTRL_INFO, 0, &data)
        guard length > 0, let data else { return nil }
        let result = SecretBytes(UnsafeRawBufferPointer(start: data, count: length))
        return result
    }
}
