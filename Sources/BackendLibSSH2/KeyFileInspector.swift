import SSHEngineCore
import SSHPrivateKeys

/// Tells an RSA private key from others, to explain libssh2 1.10's RSA failure instead of a bare "denied".
enum KeyFileInspector {
    /// Whether the key file at `path` (or its `.pub` companion) holds an RSA key.
    static func isRSA(path: String) -> Bool {
        if let bytes = PrivateKeyFile.contents(ofFile: path), isRSA(bytes: bytes) { return true }
        if let pub = PrivateKeyFile.contents(ofFile: path + ".pub") { return pub.starts(with: Array("ssh-rsa ".utf8)) }
        return false
    }

    /// Whether the text of a key file holds an RSA key (PEM `RSA PRIVATE KEY`, or `ssh-rsa` in an OpenSSH key).
    static func isRSA(bytes: [UInt8]) -> Bool {
        if String(decoding: bytes, as: UTF8.self).contains("BEGIN RSA PRIVATE KEY") { return true }
        return PrivateKeyDecryption.openSSHKeyType(bytes) == "ssh-rsa"
    }
}
