/// Everything needed to connect and authenticate one session.
public struct SSHConnectionOptions: Sendable {
    /// Host name or IP address.
    public var host: String
    /// TCP port.
    public var port: Int
    /// User to log in as.
    public var user: String
    /// Authentication methods, tried in order.
    public var authMethods: [SSHAuthMethod]
    /// Deadline for name resolution plus TCP connect, and then again for the SSH handshake (the server's banner and
    /// the key exchange), as OpenSSH's `ConnectTimeout` also bounds the wait for the banner (`nil`: none of ours
    /// for the connect, the kernel's TCP timeout still applies, and ``operationTimeout`` for the handshake).
    public var connectTimeout: Duration?
    /// Deadline for each later step on its own: host-key check, authentication, opening a channel (`nil`: none).
    public var operationTimeout: Duration?
    /// Send a keepalive after this much idle time, in whole seconds and at least 2 (libssh2 sends none more often;
    /// both engines keep to it) (`nil`: never).
    public var keepaliveInterval: Duration?
    /// How many keepalives in a row may go unanswered before the connection counts as dead and fails with
    /// ``SSHError/Code/connectionLost`` (OpenSSH's `ServerAliveCountMax`, default 3: a silent peer is noticed
    /// after about `keepaliveInterval` x 4); `nil`: never.
    public var keepaliveCountMax: Int? = 3
    /// Ask for zlib compression.
    public var compression: Bool
    /// Which address families to use when the name resolves to several.
    public var addressFamily: SSHAddressFamily
    /// How the server's host key is checked (default: against OpenSSH's known-hosts files, unknown hosts
    /// refused). Nothing is sent to the server before its key is accepted.
    public var hostKeyPolicy: SSHHostKeyPolicy
    /// Algorithm preferences (default: OpenSSH's host-key order, the engine's own ciphers, key exchange and MACs).
    public var algorithms = SSHAlgorithms()
    /// A command whose stdin and stdout carry the connection instead of a TCP connection of ours (OpenSSH's
    /// `ProxyCommand`, tokens already expanded), run as `/bin/sh -c 'exec <command>'`; `host` and `port` still
    /// name the server for host keys and messages. The command ends when the connection does.
    public var proxyCommand: String?
    /// Jump hosts to go through, the first reached directly, each next (and finally this host) through a
    /// `direct-tcpip` channel of the previous, in this process (OpenSSH's `ProxyJump`). Each hop's host key is
    /// checked under its own name with its own policy.
    public var jumpHosts: [SSHConnectionOptions] = []
    /// The local agent's socket to forward to the server (OpenSSH's `ForwardAgent`, `ssh -A`), or `nil` for no
    /// forwarding: commands and shells then see an `SSH_AUTH_SOCK` of the server's that reaches this agent, and
    /// each connection the server makes to it is carried by the loop. Needs ``SSHCapability/agentForwarding``;
    /// an engine without it leaves the agent unforwarded and notes it in ``SSHRefusedRequests/agentForwarding``.
    public var forwardAgent: String?

    /// Creates options. Only `host` is required.
    public init(
        host: String, port: Int = 22, user: String = SSHConnectionOptions.currentUser,
        authMethods: [SSHAuthMethod] = SSHAuthMethod.defaults,
        connectTimeout: Duration? = .seconds(10), operationTimeout: Duration? = .seconds(30),
        keepaliveInterval: Duration? = nil, compression: Bool = false, addressFamily: SSHAddressFamily = .any,
        hostKeyPolicy: SSHHostKeyPolicy = SSHHostKeyPolicy()
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.authMethods = authMethods
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
        self.keepaliveInterval = keepaliveInterval
        self.compression = compression
        self.addressFamily = addressFamily
        self.hostKeyPolicy = hostKeyPolicy
    }

    /// The login name of the process's user, as OpenSSH takes it: the password database's entry for the real
    /// user id, else `$USER` or `$LOGNAME` (a container's uid may have no entry); empty when none of them
    /// gives a name (``validate()`` then says so).
    public static var currentUser: String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, let found = result?.pointee.pw_name {
            let name = String(cString: found)
            if !name.isEmpty { return name }
        }
        return environment("USER") ?? environment("LOGNAME") ?? ""
    }

    /// Checks arguments a caller can get wrong, before any network work.
    /// - Throws: ``SSHError/Code/invalidArgument`` naming the bad value.
    public func validate() throws(SSHError) {
        func bad(_ message: String) -> SSHError { SSHError(.invalidArgument, host: host, port: port, message: message) }
        if host.isEmpty { throw bad("the host name is empty") }
        if !(1...65535).contains(port) { throw bad("port \(port) is outside 1...65535") }
        if user.isEmpty {
            throw bad(
                "the user name is empty (no user given, and uid \(getuid()) has no password-database entry or $USER)")
        }
        if authMethods.isEmpty { throw bad("no authentication method given") }
        if let connectTimeout, connectTimeout <= .zero { throw bad("connectTimeout must be positive (nil for none)") }
        if let operationTimeout, operationTimeout <= .zero {
            throw bad("operationTimeout must be positive (nil for none)")
        }
        if let keepaliveInterval, keepaliveInterval < .seconds(1) {
            throw bad("keepaliveInterval must be at least 1 s")
        }
        // A chain that passes a hop twice, or comes back to this host, would never end.
        let hops = jumpHosts.map { "\($0.user)@\($0.host):\($0.port)" }
        if Set(hops + ["\(user)@\(host):\(port)"]).count != hops.count + 1 {
            throw bad("the jump-host chain \(hops.joined(separator: " -> ")) -> \(host):\(port) passes a host twice")
        }
    }
}

/// Which IP versions a connection may use.
public enum SSHAddressFamily: Sendable, Hashable {
    /// IPv4 or IPv6, in the resolver's order.
    case any
    /// IPv4 only.
    case ipv4
    /// IPv6 only.
    case ipv6
}

/// Reads an environment variable without Foundation.
func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
