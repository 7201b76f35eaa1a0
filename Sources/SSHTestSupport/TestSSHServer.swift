import Foundation
import SSHBackend
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real OpenSSH `sshd` on a loopback address and a free port, with its own host key, authorized keys and
/// config, running as the current user. Stopped by ``stop()``, on deinit, or when the test process dies.
public final class TestSSHServer: Sendable {
    /// The address it listens on, e.g. `127.0.0.2`.
    public let host: String
    /// The port it listens on.
    public let port: Int
    /// Its private directory (config, log).
    public let directory: String
    private let process: SpawnedProcess
    /// Inside a namespace, connections lose their peer when the namespace goes (nothing resets them), so their
    /// sshd processes are ended with the server.
    private let endsSessions: Bool

    /// The sshd binary.
    public static let sshdPath = "/usr/sbin/sshd"

    /// One server on 127.0.0.1 shared by every test in the process.
    public static let shared: TestSSHServer = {
        do { return try TestSSHServer() } catch { fatalError("cannot start the shared test sshd: \(error)") }
    }()

    /// Starts a server configured as upstream OpenSSH ships it plus only what the tests need (its own port, keys,
    /// authorized keys and log; no `AcceptEnv`: a test about environment variables adds its own). `extraConfig`
    /// lines override the generated `sshd_config`; `hostKeys` replaces the shared
    /// host key (``TestKeys/hostKey``) with these private key files; `namespace` runs it inside that network
    /// namespace (`host` is then one of the namespace's addresses: its link's, or its own loopback's);
    /// `environment` is added to sshd's (a Kerberos realm's `KRB5_CONFIG` and `KRB5_KTNAME`).
    public init(
        host: String = "127.0.0.1", port fixedPort: Int? = nil, extraConfig: [String] = [],
        hostKeys: [String]? = nil, namespace: NetworkNamespace? = nil, environment: [String: String] = [:]
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.sshdPath) else {
            throw TestSupportError("\(Self.sshdPath) is missing: install the openssh-server package")
        }
        let keys = TestKeys.shared
        if getuid() == 0 {
            try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try fixedPort ?? (namespace == nil ? FreePort.find(host: host) : Int.random(in: 20000...60000))
            let directory = keys.directory + "/sshd-\(host)-\(port)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            // sshd keeps the first value it reads for most keywords but the last for some (MaxStartups): the
            // caller's lines go first, and ours with the same keyword are left out.
            let overridden = Set(extraConfig.compactMap { $0.split(separator: " ").first?.lowercased() })
            let config =
                extraConfig
                + ([
                    "Port \(port)",
                    "ListenAddress \(host)",
                ] + (hostKeys ?? [keys.hostKey]).map { "HostKey \($0)" } + [
                    "PidFile \(directory)/sshd.pid",
                    "AuthorizedKeysFile \(keys.authorizedKeys)",
                    "TrustedUserCAKeys \(keys.userCA).pub",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication yes",
                    "MaxStartups 1000:30:1000",
                    "MaxSessions 1000",
                    "MaxAuthTries 30",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "LogLevel VERBOSE",
                    "Subsystem sftp internal-sftp",
                ] as [String]).filter { !overridden.contains($0.split(separator: " ").first?.lowercased() ?? "") }
            let configPath = directory + "/sshd_config"
            try (config.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
            let command = [Self.sshdPath, "-D", "-e", "-f", configPath]
            // A server started again on the same address and port gets a fresh log: the readiness line below must
            // be this one's, not its predecessor's.
            try? FileManager.default.removeItem(atPath: directory + "/sshd.log")
            let process = try ProcessRunner.spawnGuarded(
                namespace?.command(command) ?? command, logFile: directory + "/sshd.log", environment: environment)
            // sshd logs this line after listen(): from then on the kernel queues connections. (A probe connection
            // instead would take one of its MaxStartups slots, which the tests count.)
            let listening = Self.waitForLog(process, "Server listening on \(host) port \(port).", timeout: 30)
            if listening {
                self.host = host
                self.port = port
                self.directory = directory
                self.process = process
                endsSessions = namespace != nil
                return
            }
            lastError = TestSupportError("sshd on \(host):\(port) did not start: \(process.log)")
            process.stop()
        }
        throw lastError ?? TestSupportError("sshd did not start")
    }

    private static func waitForLog(_ process: SpawnedProcess, _ line: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if process.log.contains(line) { return true }
            if process.log.contains("Cannot bind") || process.log.contains("fatal") { return false }
            usleep(20_000)
        }
        return false
    }

    /// The server's log (sshd -e output).
    public var log: String { process.log }

    /// Stops the server (connections already open keep their own sshd processes until they end, except in a
    /// namespace, where they are ended too).
    public func stop() {
        if endsSessions { for pid in sessionProcesses { kill(pid, SIGKILL) } }
        process.stop()
    }

    /// The listening sshd's pid (to freeze it: the kernel still completes TCP handshakes, nobody sends a banner).
    public var listenerProcess: pid_t? { process.pid }

    /// Connections whose end sshd has logged ("Connection closed by", "Disconnected from", "Connection reset
    /// by"): once it grows past a count taken before a connection, everything sshd logs of that one is in ``log``.
    public var endedConnections: Int {
        let log = self.log
        return ["Connection closed by", "Disconnected from", "Connection reset by"]
            .reduce(0) { $0 + log.components(separatedBy: $1).count - 1 }
    }

    /// Waits until sshd has logged the end of `count` connections in all.
    public func waitForEndedConnections(_ count: Int) async throws {
        try await waitUntil("sshd logging the end of \(count) connection(s)") { self.endedConnections >= count }
    }

    /// Connections the listener holds before authentication now (sshd's title says "[listener] N of …
    /// startups"), `nil` when it cannot be read.
    public var unauthenticatedConnections: Int? {
        guard let listener = process.pid,
            let title = try? String(contentsOfFile: "/proc/\(listener)/cmdline", encoding: .utf8),
            let range = title.range(of: "[listener] ")
        else { return nil }
        return Int(title[range.upperBound...].prefix { $0.isNumber })
    }

    /// The sshd processes serving connections now (the listener's descendants), to freeze a peer with SIGSTOP.
    public var sessionProcesses: [pid_t] {
        guard let listener = process.pid else { return [] }
        var found: [pid_t] = []
        var frontier = [listener]
        while let parent = frontier.popLast() {
            let children =
                (try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ pid_t($0) }) {
                found.append(child)
                frontier.append(child)
            }
        }
        return found
    }

    /// Connection options for this server with the given auth methods and user.
    public func options(
        user: String = TestUser.name,
        auth: [SSHAuthMethod] = [.privateKeyFile(path: TestKeys.shared.ed25519)],
        connectTimeout: Duration = .seconds(10), operationTimeout: Duration = .seconds(30)
    ) -> SSHConnectionOptions {
        SSHConnectionOptions(
            host: host, port: port, user: user, authMethods: auth,
            connectTimeout: connectTimeout, operationTimeout: operationTimeout,
            hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
    }
}

/// Free ports and readiness checks on loopback addresses.
public enum FreePort {
    /// A port nothing listens on right now at `host`, and never handed out before in this process: a server a
    /// test starts is never mistaken for an earlier test's at the same address (a jump connection the engine
    /// still shares, a known-hosts line, a connection sshd has not finished logging).
    public static func find(host: String) throws -> Int {
        for _ in 0..<1000 {
            let port = try anyFree(host: host)
            let fresh = handedOut.withLock { $0.insert("\(host):\(port)").inserted }
            if fresh { return port }
        }
        throw TestSupportError("no port at \(host) that was not handed out before")
    }

    private static let handedOut = Mutex(Set<String>())

    /// Notes `host:port` as handed out (a listener the tests bound themselves), so ``find(host:)`` never gives it.
    static func noteHandedOut(host: String, port: Int) {
        handedOut.withLock { _ = $0.insert("\(host):\(port)") }
    }

    private static func anyFree(host: String) throws -> Int {
        let (fd, port) = try bound(host: host)
        close(fd)
        return port
    }

    /// A TCP socket bound to `host` at a port the kernel chose (close-on-exec), and that port.
    static func bound(host: String) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            close(fd)
            throw TestSupportError("bind \(host):0 failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Polls until something accepts TCP connections at `host:port`, for at most `timeout` seconds.
    public static func waitUntilListening(host: String, port: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let connection = try? TestTCPConnection(host: host, port: port) {
                connection.close()
                return true
            }
            usleep(20_000)
        }
        return false
    }
}

/// A TCP listener that completes connections (in the kernel backlog) but never sends a byte: an SSH server that
/// never sends its banner.
public final class BlackholeListener: Sendable {
    /// Its address.
    public let host: String
    /// Its port.
    public let port: Int
    private let fd: Int32

    /// Starts listening on `host` at a free port.
    public init(host: String = "127.0.0.1") throws {
        let (fd, port) = try FreePort.bound(host: host)
        guard listen(fd, 64) == 0 else {
            close(fd)
            throw TestSupportError("blackhole listen failed: errno \(errno)")
        }
        FreePort.noteHandedOut(host: host, port: port)
        self.fd = fd
        self.host = host
        self.port = port
    }

    private let accepted = Mutex<[Int32]>([])

    deinit {
        close(fd)
        accepted.withLock { for fd in $0 { close(fd) } }
    }

    /// Accepts the next connection and waits for its first bytes (an SSH client's identification line), off the
    /// cooperative pool: once this returns, the client is past its TCP connect and in the SSH handshake. Returns
    /// what the client sent; the connection is kept open, and never answered, until the listener goes.
    @discardableResult
    public func acceptClientHello() async throws -> String {
        let listener = fd
        let (client, hello) = try await offPool { () throws -> (Int32, String) in
            let client = accept(listener, nil, nil)
            if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
            guard client >= 0 else { throw TestSupportError("blackhole accept failed: errno \(errno)") }
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = read(client, &buffer, buffer.count)
            return (client, String(decoding: buffer.prefix(max(0, count)), as: UTF8.self))
        }
        accepted.withLock { $0.append(client) }
        return hello
    }
}

/// A plain TCP connection to a test server: to send and read raw bytes (a server's first packets), or, sending
/// nothing, to hold one of its unauthenticated slots.
public final class TestTCPConnection: Sendable {
    private let fd: Int32

    /// Connects to `host:port`; reads give up after `timeout` seconds.
    public init(host: String, port: Int, timeout: Int = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestSupportError("cannot connect to \(host):\(port): errno \(code)")
        }
    }

    /// Sends `bytes`.
    public func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What arrives next (at most 4 KiB); empty at the end, on an error or after the timeout.
    public func receive() -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(chunk[..<count]) : []
    }

    /// Closes the connection.
    public func close() { Glibc.close(fd) }
}

/// An `ssh-agent` holding the given keys, on its own socket.
public final class TestAgent: Sendable {
    /// The agent's socket path (what `SSH_AUTH_SOCK` would hold).
    public let socketPath: String
    private let process: SpawnedProcess

    /// Starts an agent and adds `keys` to it.
    public init(keys: [String]) throws {
        let directory = TestKeys.shared.directory + "/agent-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = directory + "/agent.sock"
        process = try ProcessRunner.spawnGuarded(
            ["/usr/bin/ssh-agent", "-D", "-a", socketPath],
            logFile: directory + "/agent.log")
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard Date() < deadline else { throw TestSupportError("ssh-agent did not start: \(process.log)") }
            usleep(10_000)
        }
        // The socket file appears at bind(), a moment before the agent listens: retry while it refuses.
        for key in keys {
            while true {
                do {
                    try ProcessRunner.run(["/usr/bin/ssh-add", key], environment: ["SSH_AUTH_SOCK": socketPath])
                    break
                } catch let error as TestSupportError
                    where error.description.contains("Connection refused")
                    && Date() < deadline
                {
                    usleep(20_000)
                }
            }
        }
    }

    /// Stops the agent.
    public func stop() { process.stop() }
}
