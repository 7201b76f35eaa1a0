import SSHEngineCore
import SSHPrivateKeys

/// Private keys decrypted once per process for libssh2 (``PrivateKeyCache``). libssh2 1.10 has no call that keeps a
/// decrypted key, so a passphrase-protected key is decrypted here (``PrivateKeyDecryption``), and an Ed25519 key is
/// parsed here once into a signer (``Ed25519Signer``) that signs each session's request through libssh2's signing
/// callback; any other key is handed to libssh2 as unencrypted text (`libssh2_userauth_publickey_frommemory`), a
/// parse instead of a key derivation per host.
enum LibSSH2KeyCache {
    /// A key as the process prepared it: the text to hand libssh2, and the signer when it is an Ed25519 key.
    struct Prepared: Sendable {
        /// The key decrypted, or why not.
        let outcome: PrivateKeyDecryption.Outcome
        /// The key parsed for signing in the process (Ed25519 keys in OpenSSH's format).
        let signer: Ed25519Signer?
    }

    /// The process's keys.
    static let shared = PrivateKeyCache<Prepared> { contents, passphrase in
        let outcome = PrivateKeyDecryption.decrypt(contents, passphrase: passphrase)
        let signer: Ed25519Signer? =
            switch outcome {
            case .decrypted(let plain, _): plain.withUnsafeBytes { Ed25519Signer.load(unencrypted: $0) }
            case .notEncrypted: Ed25519Signer.load(unencrypted: contents)
            case .failed: nil
            }
        return Prepared(outcome: outcome, signer: signer)
    }
}
