import Foundation
import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway local account with a random password, for password and keyboard-interactive tests.
///
/// sshd checks passwords against the system's account database, which only root can read and change, so this
/// exists only when the tests run as root (as CI does); ``shared`` is `nil` otherwise and the tests that need it
/// say so when they skip.
public struct PasswordUser: Sendable {
    /// The account name.
    public let name: String
    /// Its password (new for every test process).
    public let password: String

    /// The account, or `nil` when not running as root.
    public static let shared: PasswordUser? = {
        guard getuid() == 0 else { return nil }
        let name = accountName
        let password = "pw-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        do {
            if getpwnam(name) == nil {
                try ProcessRunner.run([
                    "/usr/sbin/useradd", "--no-create-home", "--home-dir", "/tmp",
                    "--shell", "/bin/sh", name,
                ])
            }
            try ProcessRunner.run(["/usr/sbin/chpasswd"], input: "\(name):\(password)\n")
            return PasswordUser(name: name, password: password)
        } catch {
            fatalError("cannot prepare the password test account: \(error)")
        }
    }()

    /// The name of the throwaway account: `pssh-test`, or `$PSSH_TEST_ACCOUNT` (letters, digits and `-`, at most
    /// 20). Each test process gives the account a new password (and ``InteropUser`` its keys), so two suites
    /// running at once on one machine (a developer's beside a CI run) need two names.
    public static let accountName: String = {
        let chosen = ProcessInfo.processInfo.environment["PSSH_TEST_ACCOUNT"] ?? ""
        let valid =
            !chosen.isEmpty && chosen.count <= 20
            && chosen.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        return valid ? chosen : "pssh-test"
    }()

    /// Why password tests cannot run here, when they cannot.
    public static var unavailableReason: String { "password tests need root to create a local test account" }
}

/// The account the tests log in as.
///
/// Normally the current user. As root (CI) it is the throwaway non-root ``PasswordUser`` account instead: sshd
/// refuses "signal" requests in root's sessions (they run without post-authentication privilege separation), and
/// root's own shell start-up files on a developer machine (bash sources `~/.bashrc` for every ssh command) would
/// otherwise add their noise to the commands' output. The account's home is `/tmp` and its shell `/bin/sh`.
public enum TestUser {
    /// The login name.
    public static var name: String { PasswordUser.shared?.name ?? SSHConnectionOptions.currentUser }
}
