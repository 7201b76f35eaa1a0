import CLibSSH
import SSHBackend
import SSHEngineCore

/// Private keys parsed and decrypted once per process (``PrivateKeyCache``): libssh parses the key once and every
/// session gets a copy (`ssh_key_dup`).
enum LibSSHKeyCache {
    /// One parse: the decrypted key, or libssh's code for why not. Never changed after it is made, and libssh only
    /// reads it (to copy it), so sessions on any loop thread may share it; freed when the last holder lets go.
    final class Parsed: @unchecked Sendable {
        let key: OpaquePointer?
        let code: Int32

        init(key: OpaquePointer?, code: Int32) {
            self.key = key
            self.code = code
        }

        deinit { if let key { ssh_key_free(key) } }

        /// A copy for one session (the caller frees it), or the failure.
        func copy() -> Result<OpaquePointer, LibSSHKeyFailure> {
            guard let key else { return .failure(LibSSHKeyFailure(code: code)) }
            guard let duplicate = ssh_key_dup(key) else { return .failure(LibSSHKeyFailure(code: SSH_ERROR)) }
            return .success(duplicate)
        }
    }

    /// The process's keys.
    static let shared = PrivateKeyCache<Parsed> { contents, passphrase in
        var parsed: OpaquePointer?
        // An absent passphrase is passed as "" so libssh never falls back to prompting on a terminal.
        let rc = (contents + [0]).withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                ssh_pki_import_privkey_base64($0.baseAddress, passphrase ?? "", nil, nil, &parsed)
            }
        }
        if rc == SSH_OK { return Parsed(key: parsed, code: SSH_OK) }
        if let parsed { ssh_key_free(parsed) }
        return Parsed(key: nil, code: rc)
    }

    /// A key for one session from a key file's or text's `contents`: a copy the caller frees, or libssh's code for
    /// the failure (`SSH_ERROR` for a wrong passphrase or an unreadable format).
    static func key(contents: [UInt8], passphrase: String?) -> Result<OpaquePointer, LibSSHKeyFailure> {
        shared.value(contents: contents, passphrase: passphrase).copy()
    }
}

/// Why a key could not be parsed: libssh's code.
struct LibSSHKeyFailure: Error {
    let code: Int32
}
