import Foundation
import SSHBackend

/// Keys generated once per test process in a private temporary directory: host keys for the servers, user
/// keys of several types (authorized on every test server), one encrypted key, one key the servers do not know,
/// and a user CA.
public final class TestKeys: Sendable {
    /// The directory holding everything (removed when the process exits).
    public let directory: String
    /// An authorized ed25519 key without passphrase.
    public let ed25519: String
    /// An authorized ECDSA P-256 key.
    public let ecdsa: String
    /// An authorized RSA 3072 key.
    public let rsa: String
    /// An authorized ed25519 key encrypted with ``passphrase``.
    public let encrypted: String
    /// The passphrase of ``encrypted``.
    public let passphrase = "correct horse battery staple"
    /// An ed25519 key that no server authorizes.
    public let unauthorized: String
    /// An ed25519 key that no server authorizes by itself, with ``certificate`` signed by ``userCA``.
    public let certified: String
    /// The OpenSSH user certificate of ``certified`` (principals: the current user and the test account), signed by ``userCA``.
    public let certificate: String
    /// The user certificate authority every test server trusts (`TrustedUserCAKeys`).
    public let userCA: String
    /// The host key every test server uses.
    public let hostKey: String
    /// Further host keys, for servers that present other keys: ed25519 (another one), ECDSA P-256, RSA 3072.
    public let otherHostKeys: (ed25519: String, ecdsa: String, rsa: String)
    /// The `authorized_keys` file.
    public let authorizedKeys: String
    /// A known-hosts file naming ``hostKey`` for every test server (`127.0.0.*` on any port), as a user who
    /// checked the servers' fingerprints would have it.
    public let knownHosts: String

    /// The `ssh_config` of the tests (never the user's): the test servers' known-hosts file, nothing else.
    public let sshConfig: String

    /// The host-key policy of the tests: strict checking against ``knownHosts`` only (never the user's files).
    public var hostKeyPolicy: SSHHostKeyPolicy {
        SSHHostKeyPolicy(mode: .strict, userKnownHostsFiles: [knownHosts], globalKnownHostsFiles: [])
    }

    /// The keys of this process, generated on first use.
    public static let shared: TestKeys = {
        do { return try TestKeys() } catch { fatalError("cannot generate test keys: \(error)") }
    }()

    private init() throws {
        let base = NSTemporaryDirectory() + "pssh-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o755)
        directory = base
        TemporaryFiles.removeAtExit(base)
        func keygen(_ name: String, _ type: [String], passphrase: String = "") throws -> String {
            let path = "\(base)/\(name)"
            try ProcessRunner.run(["/usr/bin/ssh-keygen", "-q"] + type + ["-N", passphrase, "-C", name, "-f", path])
            return path
        }
        ed25519 = try keygen("id_ed25519", ["-t", "ed25519"])
        ecdsa = try keygen("id_ecdsa", ["-t", "ecdsa", "-b", "256"])
        rsa = try keygen("id_rsa", ["-t", "rsa", "-b", "3072"])
        encrypted = try keygen("id_encrypted", ["-t", "ed25519"], passphrase: passphrase)
        unauthorized = try keygen("id_unauthorized", ["-t", "ed25519"])
        hostKey = try keygen("ssh_host_ed25519_key", ["-t", "ed25519"])
        otherHostKeys = (
            try keygen("ssh_host_other_ed25519_key", ["-t", "ed25519"]),
            try keygen("ssh_host_ecdsa_key", ["-t", "ecdsa", "-b", "256"]),
            try keygen("ssh_host_rsa_key", ["-t", "rsa", "-b", "3072"])
        )
        userCA = try keygen("user_ca", ["-t", "ed25519"])
        certified = try keygen("id_certified", ["-t", "ed25519"])
        let principal =
            (getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "root")
            + ",\(PasswordUser.accountName)"
        try ProcessRunner.run([
            "/usr/bin/ssh-keygen", "-q", "-s", userCA, "-I", "pssh-test-certificate",
            "-n", principal, "-V", "-5m:+1d", certified + ".pub",
        ])
        certificate = certified + "-cert.pub"
        authorizedKeys = "\(base)/authorized_keys"
        let lines = try [ed25519, ecdsa, rsa, encrypted].map {
            try String(contentsOfFile: $0 + ".pub", encoding: .utf8)
        }
        try lines.joined().write(toFile: authorizedKeys, atomically: true, encoding: .utf8)
        for path in [
            ed25519, ecdsa, rsa, encrypted, unauthorized, hostKey, userCA, certified, otherHostKeys.ed25519,
            otherHostKeys.ecdsa, otherHostKeys.rsa,
        ] { chmod(path, 0o600) }
        chmod(authorizedKeys, 0o644)
        knownHosts = "\(base)/known_hosts"
        let hostPublic = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ")
        try "127.0.0.*,[127.0.0.*]:*,10.251.*,[10.251.*]:* \(hostPublic[0]) \(hostPublic[1])\n".write(
            toFile: knownHosts, atomically: true,
            encoding: .utf8)
        sshConfig = "\(base)/ssh_config"
        try "Host *\n    UserKnownHostsFile \(knownHosts)\n    GlobalKnownHostsFile /dev/null\n"
            .write(toFile: sshConfig, atomically: true, encoding: .utf8)
        chmod(sshConfig, 0o600)
    }

    /// The text of a private key file.
    public func contents(of path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

/// Removes temporary directories when the process exits normally.
enum TemporaryFiles {
    private static let paths = Locked<[String]>([])
    private static let registered: Void = {
        atexit {
            for path in TemporaryFiles.paths.value { try? FileManager.default.removeItem(atPath: path) }
        }
    }()

    static func removeAtExit(_ path: String) {
        _ = registered
        paths.mutate { $0.append(path) }
    }
}

/// A tiny lock-protected box for test-support state.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate<T>(_ body: (inout Value) throws -> T) rethrows -> T { try lock.withLock { try body(&stored) } }
}
