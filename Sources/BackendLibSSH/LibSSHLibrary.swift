import CLibSSH
import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide libssh state: `ssh_init` runs exactly once (a Swift `static let` is a thread-safe once), before
/// the first session; `ssh_finalize` is never called while sessions may exist.
enum LibSSHLibrary {
    /// Whether `ssh_init()` succeeded. Touch before creating any session. The exit guard is installed first (see
    /// ``ProcessExitGuard``).
    static let initialized: Bool = {
        ProcessExitGuard.install()
        return ssh_init() == 0
    }()

    /// The runtime library version, e.g. `"0.10.6"` (without the crypto back-end suffix libssh appends).
    static let version: String = {
        let full = ssh_version(0).map { String(cString: $0) } ?? "0.10"
        return String(full.prefix { $0 != "/" })
    }()

    /// `$HOME/.ssh`, given to every session as its SSH directory so that libssh does not look the user up in the
    /// password database (opening `/etc/nsswitch.conf` and `/etc/passwd`) on every connection; libssh only
    /// expands paths with it, and every path it would expand (known_hosts, identities, config) is set or unused.
    /// `nil` without `HOME`: libssh then finds the directory itself.
    static let sshDirectory: String? = getenv("HOME").map { String(cString: $0) + "/.ssh" }

    /// Whether the library is a 0.10 release, whose `ssh_channel_read_timeout` the engine's window growth relies on
    /// (it copies at most the buffered bytes; see ``LibSSHChannel/read(_:scratch:)``). Other versions keep libssh's
    /// own window.
    static let readGrowsWindow: Bool = version.hasPrefix("0.10.")
}

/// `SSH_AGAIN` as the `Int32` the calls return.
let sshAgain = SSH_AGAIN
/// `SSH_AUTH_AGAIN` as the `Int32` the authentication calls return.
let authAgain = SSH_AUTH_AGAIN.rawValue

/// Sets a string option on a session.
@discardableResult
func setOption(_ session: OpaquePointer, _ option: ssh_options_e, _ value: String) -> Bool {
    value.withCString { ssh_options_set(session, option, $0) } == 0
}

/// Sets an option whose value the library reads through a pointer to `T` (`int`, `bool`, `unsigned int`, `socket_t`).
@discardableResult
func setOption<T>(_ session: OpaquePointer, _ option: ssh_options_e, _ value: T) -> Bool {
    withUnsafePointer(to: value) { ssh_options_set(session, option, UnsafeRawPointer($0)) } == 0
}
