import SSHEngineCore
import SSHPrivateKeys

/// Tells an RSA private key from others, to explain libssh2 1.10's RSA failure instead of a bare "denied".
enum KeyFileInspector {
    /// Whether the private key text holds an RSA key (PEM header, or `ssh-rsa` inside an OpenSSH key).
    static func isRSA(bytes: [UInt8]) -> Bool {
        if String(decoding: bytes, as: UTF8.self).contains("BEGIN RSA PRIVATE KEY") { return true }
        return PrivateKeyDecryption.openSSHKeyType(bytes) == "ssh-rsa"
    }
}
