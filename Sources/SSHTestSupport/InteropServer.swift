import Foundation
import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

/// An SSH server nobody here wrote, for the interoperability suite: OpenSSH's sshd (``TestSSHServer``), Dropbear,
/// TinySSH (under `tcpserver`, as it is run in practice) or an asyncssh server (`Tests/Servers/asyncssh_server.py`).
///
/// Every kind presents the shared test host key (``TestKeys/hostKey``, converted to each server's own format), so the
/// tests' known-hosts file verifies them all, and authorizes the shared test user keys. Dropbear and TinySSH read
/// `~/.ssh/authorized_keys` of the account they log into and cannot be pointed elsewhere, so they serve the
/// throwaway ``InteropUser`` account, which needs root; asyncssh serves the current user.
public final class InteropServer: Sendable {
    /// The kinds of server.
    public enum Kind: String, Sendable, CaseIterable, CustomStringConvertible {
        /// OpenSSH's `sshd`.
        case openssh = "OpenSSH"
        /// Dropbear (Debian `dropbear-bin`).
        case dropbear = "Dropbear"
        /// TinySSH (Debian `tinysshd`) started per connection by `tcpserver` (Debian `ucspi-tcp`).
        case tinyssh = "TinySSH"
        /// asyncssh (PyPI), through the test script.
        case asyncssh = "asyncssh"

        public var description: String { rawValue }

        /// Why this kind cannot run here, or `nil` when it can.
        public var unavailableReason: String? {
            switch self {
            case .openssh, .asyncssh: return nil
            case .dropbear, .tinyssh:
                return getuid() == 0
                    ? nil
                    : "\(rawValue) logs into a local account by its ~/.ssh/authorized_keys; "
                        + "the tests create a throwaway account for it, which needs root"
            }
        }
    }

    /// Which server this is.
    public let kind: Kind
    /// Its address.
    public let host: String
    /// Its port.
    public let port: Int
    /// The account to log in as.
    public let user: String
    private let process: SpawnedProcess?
    private let openssh: TestSSHServer?

    private init(kind: Kind, host: String, port: Int, user: String, process: SpawnedProcess?, openssh: TestSSHServer?) {
        self.kind = kind
        self.host = host
        self.port = port
        self.user = user
        self.process = process
        self.openssh = openssh
    }

    /// One server of each kind per test process, started on first use (off the cooperative pool).
    public static func shared(_ kind: Kind) async throws -> InteropServer {
        try await offPool {
            try started.mutate { servers in
                if let server = servers[kind] { return server }
                let server = try InteropServer.start(kind)
                servers[kind] = server
                return server
            }
        }
    }

    private static let started = Locked<[Kind: InteropServer]>([:])

    /// The server's log so far.
    public var log: String { openssh?.log ?? process?.log ?? "" }

    /// Connection options for this server: its account, the given auth, and strict host-key checking against the
    /// tests' known-hosts file.
    public func options(auth: [SSHAuthMethod] = [.privateKeyFile(path: TestKeys.shared.ed25519)])
        -> SSHConnectionOptions
    {
        SSHConnectionOptions(
            host: host, port: port, user: user, authMethods: auth, connectTimeout: .seconds(10),
            operationTimeout: .seconds(60), hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
    }

    /// Stops the server.
    public func stop() {
        openssh?.stop()
        process?.stop()
    }

    private static func start(_ kind: Kind) throws -> InteropServer {
        if let reason = kind.unavailableReason { throw TestSupportError(reason) }
        let host = "127.0.0.\(4 + Kind.allCases.firstIndex(of: kind)!)"
        if kind == .openssh {
            _ = TestUser.name
            let server = try TestSSHServer(host: host)
            return InteropServer(
                kind: kind, host: host, port: server.port, user: TestUser.name, process: nil, openssh: server)
        }
        let keys = TestKeys.shared
        let directory = keys.directory + "/\(kind.rawValue.lowercased())-\(host)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try FreePort.find(host: host)
            let command: [String]
            var user = TestUser.name
            switch kind {
            case .openssh: fatalError("started above")
            case .dropbear:
                user = try InteropUser.prepare()
                let key = directory + "/dropbear_ed25519_host_key"
                if !FileManager.default.fileExists(atPath: key) {
                    try ProcessRunner.run([
                        try Self.tool("dropbearconvert", package: "dropbear-bin"), "openssh", "dropbear",
                        keys.hostKey, key,
                    ])
                }
                command = [
                    try Self.tool("dropbear", package: "dropbear-bin"), "-F", "-E", "-s", "-p", "\(host):\(port)",
                    "-r", key, "-P", directory + "/dropbear.pid",
                ]
            case .tinyssh:
                user = try InteropUser.prepare()
                let keyDirectory = directory + "/keys"
                try TinySSHKeys.write(openSSHKey: keys.hostKey, to: keyDirectory)
                command = [
                    try Self.tool("tcpserver", package: "ucspi-tcp"), "-HRDl0", "-c", "1000", host, "\(port)",
                    try Self.tool("tinysshd", package: "tinysshd"), "-v", "-x", "sftp=/usr/lib/openssh/sftp-server",
                    keyDirectory,
                ]
            case .asyncssh:
                command = [
                    try Self.python(), Self.repositoryRoot + "/Tests/Servers/asyncssh_server.py", "--host", host,
                    "--port", "\(port)", "--host-key", keys.hostKey, "--authorized-keys", keys.authorizedKeys,
                ]
            }
            let process = try ProcessRunner.spawnGuarded(command, logFile: directory + "/server-\(port).log")
            if FreePort.waitUntilListening(host: host, port: port, timeout: 15) {
                return InteropServer(kind: kind, host: host, port: port, user: user, process: process, openssh: nil)
            }
            lastError = TestSupportError("\(kind) on \(host):\(port) did not start: \(process.log)")
            process.stop()
        }
        throw lastError ?? TestSupportError("\(kind) did not start")
    }

    /// The path of an installed program, or an error naming the Debian package that has it.
    private static func tool(_ name: String, package: String) throws -> String {
        for directory in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw TestSupportError("\(name) is missing: install the \(package) package (scripts/install-deps does)")
    }

    /// The repository's root directory.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The Python with asyncssh that `scripts/install-deps` prepared (`PSSH_TEST_VENV`, default `.build-venv`).
    private static func python() throws -> String {
        let venv = ProcessInfo.processInfo.environment["PSSH_TEST_VENV"] ?? repositoryRoot + "/.build-venv"
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestSupportError("\(python) is missing: scripts/install-deps creates it with asyncssh from PyPI")
        }
        return python
    }
}

/// The throwaway local account that Dropbear and TinySSH log into: `pssh-interop`, home `/var/lib/pssh-interop`
/// (TinySSH refuses a home under a directory others can write, such as `/tmp`), shell `/bin/sh`, no password, its
/// `authorized_keys` the tests' own. Root only. With `$PSSH_TEST_ACCOUNT` set (a second suite beside a running
/// one), `<that name>-interop` instead, so neither suite replaces the other's keys.
public enum InteropUser {
    /// The account name.
    public static let name =
        PasswordUser.accountName == "pssh-test" ? "pssh-interop" : "\(PasswordUser.accountName)-interop"
    /// Its home directory.
    public static let home = "/var/lib/\(name)"

    private static let prepared = Locked<Bool>(false)

    /// Creates the account if needed and writes this process's authorized keys into its home; returns its name.
    public static func prepare() throws -> String {
        try prepared.mutate { done in
            if done { return name }
            if getpwnam(name) == nil {
                try ProcessRunner.run([
                    "/usr/sbin/useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", name,
                ])
            }
            // A locked account ("!" in shadow) is refused by Dropbear even for keys; "*" allows no password either.
            try ProcessRunner.run(["/usr/sbin/usermod", "-p", "*", name])
            try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
            let keys = try String(contentsOfFile: TestKeys.shared.authorizedKeys, encoding: .utf8)
            try keys.write(toFile: home + "/.ssh/authorized_keys", atomically: true, encoding: .utf8)
            try ProcessRunner.run(["/bin/chown", "-R", "\(name):\(name)", home])
            chmod(home, 0o700)
            chmod(home + "/.ssh", 0o700)
            chmod(home + "/.ssh/authorized_keys", 0o600)
            done = true
            return name
        }
    }
}

/// TinySSH's key directory (`ed25519.pk`, `.ed25519.sk`: the raw public key and the 64-byte secret key) made from an
/// unencrypted OpenSSH ed25519 private key file, so TinySSH presents the same host key as the other servers.
enum TinySSHKeys {
    static func write(openSSHKey path: String, to directory: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let data = Data(base64Encoded: body) else { throw TestSupportError("\(path) is not an OpenSSH key") }
        var bytes = [UInt8](data)
        let magic = Array("openssh-key-v1\0".utf8)
        guard bytes.starts(with: magic) else { throw TestSupportError("\(path) is not an OpenSSH key") }
        bytes.removeFirst(magic.count)
        var position = 0
        func string() throws -> [UInt8] {
            guard bytes.count - position >= 4 else { throw TestSupportError("\(path): truncated") }
            let length = bytes[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }
            position += 4
            guard bytes.count - position >= length else { throw TestSupportError("\(path): truncated") }
            defer { position += length }
            return Array(bytes[position..<position + length])
        }
        guard try string() == Array("none".utf8) else { throw TestSupportError("\(path) is encrypted") }
        _ = try string()
        _ = try string()  // KDF name and options
        position += 4  // number of keys
        _ = try string()  // public key blob
        bytes = try string()  // private section
        position = 8  // two check integers
        guard try string() == Array("ssh-ed25519".utf8) else { throw TestSupportError("\(path) is not ed25519") }
        let publicKey = try string()
        let secretKey = try string()
        guard publicKey.count == 32, secretKey.count == 64 else { throw TestSupportError("\(path): bad ed25519 key") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(publicKey).write(to: URL(fileURLWithPath: directory + "/ed25519.pk"))
        try Data(secretKey).write(to: URL(fileURLWithPath: directory + "/.ed25519.sk"))
        chmod(directory + "/.ed25519.sk", 0o600)
    }
}
