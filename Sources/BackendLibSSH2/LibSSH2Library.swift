import CLibSSH2
import SSHBackend
import SSHEventLoop

/// Process-wide libssh2 state: `libssh2_init` runs exactly once (a Swift `static let` is a thread-safe once),
/// before the first session, and `libssh2_exit` is never called per session.
enum LibSSH2Library {
    /// Whether `libssh2_init(0)` succeeded. Touch before creating any session. The exit guard is installed first
    /// (see ``ProcessExitGuard``).
    static let initialized: Bool = {
        ProcessExitGuard.install()
        return libssh2_init(0) == 0
    }()

    /// What this build of libssh2 negotiates, as `libssh2_session_supported_algs` reports it (asked once, on a
    /// session made for the purpose). Host certificates are left out: libssh2 1.10 lists them but cannot verify
    /// them, so they are never agreed.
    static let supportedAlgorithms: SSHAlgorithmSupport = {
        _ = initialized
        guard let session = clibssh2_session_init(nil) else {
            return SSHAlgorithmSupport(hostKeys: [], ciphers: [], keyExchange: [], macs: [])
        }
        defer { libssh2_session_free(session) }
        func list(_ method: Int32) -> [String] {
            var names: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            let count = libssh2_session_supported_algs(session, method, &names)
            guard count > 0, let names else { return [] }
            defer { libssh2_free(session, names) }
            return (0..<Int(count)).compactMap { names[$0].map { String(cString: $0) } }
        }
        return SSHAlgorithmSupport(
            hostKeys: list(LIBSSH2_METHOD_HOSTKEY).filter { !$0.contains("-cert-") },
            ciphers: list(LIBSSH2_METHOD_CRYPT_CS), keyExchange: list(LIBSSH2_METHOD_KEX),
            macs: list(LIBSSH2_METHOD_MAC_CS))
    }()

    /// The runtime library version, e.g. `"1.10.0"`.
    static let version: String = libssh2_version(0).map { String(cString: $0) } ?? LIBSSH2_VERSION
}

/// `LIBSSH2_ERROR_EAGAIN` as the `Int` that `ssize_t` results import as.
let eagain = Int(LIBSSH2_ERROR_EAGAIN)

/// Whether a libssh2 error code means the transport itself is gone (as opposed to one channel or request).
func isTransportError(_ code: Int32) -> Bool {
    switch code {
    case LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_DISCONNECT,
        LIBSSH2_ERROR_SOCKET_TIMEOUT, LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_BAD_SOCKET, LIBSSH2_ERROR_SOCKET_NONE,
        LIBSSH2_ERROR_DECRYPT, LIBSSH2_ERROR_INVALID_MAC, LIBSSH2_ERROR_KEX_FAILURE, LIBSSH2_ERROR_PROTO,
        LIBSSH2_ERROR_BANNER_RECV, LIBSSH2_ERROR_BANNER_SEND:
        return true
    default:
        return false
    }
}
