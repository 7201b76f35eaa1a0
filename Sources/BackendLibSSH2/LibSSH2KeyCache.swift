import SSHEngineCore
import SSHPrivateKeys

/// Private keys decrypted once per process for libssh2 (``PrivateKeyCache``). libssh2 1.10 has no call that keeps a
/// decrypted key, so a passphrase-protected key is decrypted here (``PrivateKeyDecryption``) and every session
/// hands libssh2 the same key as unencrypted text (`libssh2_userauth_publickey_frommemory`), a parse instead of a
/// key derivation per host.
enum LibSSH2KeyCache {
    /// The process's keys.
    static let shared = PrivateKeyCache<PrivateKeyDecryption.Outcome> { contents, passphrase in
        PrivateKeyDecryption.decrypt(contents, passphrase: passphrase)
    }
}
