/// Decrypts a passphrase-protected private key once, in the process, for an engine whose C library can only take a
/// key as text and would otherwise derive it again for every session (libssh2 1.10): the result is the same key as
/// unencrypted text, held in ``SecretBytes`` and handed to the library per session at a parse's cost.
///
/// Reads OpenSSH's format (`openssh-key-v1`, bcrypt KDF; AES in CTR, CBC or GCM mode) and PEM keys (PKCS#1, SEC1,
/// PKCS#8) through libcrypto. Anything else is left to the engine (``Failure/unsupported(_:)``).
package enum PrivateKeyDecryption {
    /// Why a key was not decrypted here.
    package enum Failure: Error, Equatable, Sendable {
        /// The passphrase does not open the key.
        case wrongPassphrase
        /// The key is encrypted and no passphrase was given.
        case passphraseNeeded
        /// An encryption or format this process does not undo; the engine's library may still read it.
        case unsupported(String)
        /// The text is not a well-formed key of a format it claims.
        case malformed(String)
    }

    /// What to hand the engine for `text` with `passphrase`.
    package enum Outcome: Sendable {
        /// The key was encrypted: here it is unencrypted, with its public key as a `.pub` line (`type base64`)
        /// where the key file holds it (OpenSSH's format), so the library need not derive it again.
        case decrypted(SecretBytes, publicKey: [UInt8]?)
        /// The key is not encrypted: the text as it is will do; its public key as a `.pub` line where the key file
        /// holds it (OpenSSH's format).
        case notEncrypted(publicKey: [UInt8]?)
        /// It could not be decrypted here.
        case failed(Failure)
    }

    /// The key type an OpenSSH-format key file names in its (never encrypted) public part: `ssh-ed25519`,
    /// `ssh-rsa`, …; `nil` for other formats.
    package static func openSSHKeyType(_ text: [UInt8]) -> String? {
        guard case .success(let file) = OpenSSHKeyFile.parse(text) else { return nil }
        return file.keyType
    }

    /// Decrypts `text` (a private key file's contents) with `passphrase`. A key asking for more than
    /// `maximumRounds` bcrypt rounds (each about 7 ms of CPU) is refused as malformed.
    package static func decrypt(_ text: [UInt8], passphrase: String?, maximumRounds: Int = 1 << 16) -> Outcome {
        func has(_ marker: String) -> Bool { PEMArmor.find(Array(marker.utf8), in: text[...]) != nil }
        if has(OpenSSHKeyFile.armorBegin) {
            switch OpenSSHKeyFile.parse(text) {
            case .failure(let failure): return .failed(failure)
            case .success(let file):
                guard file.isEncrypted else { return .notEncrypted(publicKey: file.publicKeyLine) }
                switch file.decrypt(passphrase: passphrase ?? "", maximumRounds: maximumRounds) {
                case .success(let plain): return .decrypted(plain, publicKey: file.publicKeyLine)
                case .failure(let failure): return .failed(failure)
                }
            }
        }
        let pemEncrypted =
            has("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || (has("PRIVATE KEY-----") && has("Proc-Type: 4,ENCRYPTED"))
        guard pemEncrypted else { return .notEncrypted(publicKey: nil) }
        guard let passphrase, !passphrase.isEmpty else { return .failed(.passphraseNeeded) }
        guard let plain = LibCrypto.decryptPEM(text, passphrase: passphrase) else { return .failed(.wrongPassphrase) }
        return .decrypted(plain, publicKey: nil)
    }
}
