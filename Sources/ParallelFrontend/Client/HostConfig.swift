import SSHBackend

/// A private key for authentication: a file path (`~` expanded) or the key text itself, with an optional passphrase.
///
/// Unlike parallel-ssh, the password is never used as the key's passphrase: give the passphrase here.
public enum PrivateKey: Sendable {
    /// A key file.
    case file(String, passphrase: String? = nil)
    /// The text of a key file, held in memory.
    case memory(String, passphrase: String? = nil)

    var authMethod: SSHAuthMethod {
        switch self {
        case .file(let path, let passphrase): return .privateKeyFile(path: path, passphrase: passphrase)
        case .memory(let text, let passphrase): return .privateKey(SSHPrivateKeyData(text), passphrase: passphrase)
        }
    }
}

/// Settings for one host that override the client's. Every field left `nil` falls back to the client's value.
///
/// Unlike parallel-ssh (which merges with `or`), `false` and `0` do override: `HostConfig(allowAgent: false)`
/// turns the agent off for that host even when the client allows it.
public struct HostConfig: Sendable {
    /// Login user.
    public var user: String?
    /// Port.
    public var port: Int?
    /// Password (for password or keyboard-interactive authentication).
    public var password: String?
    /// Private key.
    public var privateKey: PrivateKey?
    /// A name to tell this entry apart from others with the same host (shown in output and logs).
    public var alias: String?
    /// Connection attempts after the first that fail for transport reasons.
    public var retries: Int?
    /// Pause between connection attempts.
    public var retryDelay: Duration?
    /// Per-step timeout: TCP connect, handshake, authentication, channel open.
    public var timeout: Duration?
    /// Try the SSH agent.
    public var allowAgent: Bool?
    /// Try the default identity files (`~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`).
    public var identityAuth: Bool?
    /// Keepalive interval (`.zero` turns keepalives off).
    public var keepalive: Duration?
    /// zlib compression.
    public var compression: Bool?
    /// Connect over IPv6 only.
    public var ipv6Only: Bool?
    /// Use keyboard-interactive (answering with the password) instead of password authentication.
    public var keyboardInteractive: Bool?

    /// Creates a host configuration; every argument defaults to "use the client's value".
    public init(user: String? = nil, port: Int? = nil, password: String? = nil, privateKey: PrivateKey? = nil,
                alias: String? = nil, retries: Int? = nil, retryDelay: Duration? = nil, timeout: Duration? = nil,
                allowAgent: Bool? = nil, identityAuth: Bool? = nil, keepalive: Duration? = nil,
                compression: Bool? = nil, ipv6Only: Bool? = nil, keyboardInteractive: Bool? = nil) {
        self.user = user
        self.port = port
        self.password = password
        self.privateKey = privateKey
        self.alias = alias
        self.retries = retries
        self.retryDelay = retryDelay
        self.timeout = timeout
        self.allowAgent = allowAgent
        self.identityAuth = identityAuth
        self.keepalive = keepalive
        self.compression = compression
        self.ipv6Only = ipv6Only
        self.keyboardInteractive = keyboardInteractive
    }

    /// This configuration with every `nil` field taken from `fallback`.
    func merged(over fallback: HostConfig) -> HostConfig {
        HostConfig(user: user ?? fallback.user, port: port ?? fallback.port, password: password ?? fallback.password,
                   privateKey: privateKey ?? fallback.privateKey, alias: alias ?? fallback.alias,
                   retries: retries ?? fallback.retries, retryDelay: retryDelay ?? fallback.retryDelay,
                   timeout: timeout ?? fallback.timeout, allowAgent: allowAgent ?? fallback.allowAgent,
                   identityAuth: identityAuth ?? fallback.identityAuth, keepalive: keepalive ?? fallback.keepalive,
                   compression: compression ?? fallback.compression, ipv6Only: ipv6Only ?? fallback.ipv6Only,
                   keyboardInteractive: keyboardInteractive ?? fallback.keyboardInteractive)
    }

    /// The authentication methods to try, in order: the private key, the agent, the default identities, then
    /// the password (or keyboard-interactive with it). OpenSSH's order; parallel-ssh stops after a given key.
    var authMethods: [SSHAuthMethod] {
        var methods: [SSHAuthMethod] = []
        if let privateKey { methods.append(privateKey.authMethod) }
        if allowAgent ?? true { methods.append(.agent()) }
        if identityAuth ?? true { methods.append(.defaultIdentities()) }
        if let password {
            methods.append(keyboardInteractive == true ? .keyboardInteractive(password: password) : .password(password))
        }
        return methods
    }

    /// The connection options for `host`.
    func connectionOptions(host: String) -> SSHConnectionOptions {
        let timeout = timeout ?? .seconds(60)
        let keepalive = keepalive.flatMap { $0 > .zero ? $0 : nil }
        return SSHConnectionOptions(
            host: host, port: port ?? 22, user: user ?? SSHConnectionOptions.currentUser, authMethods: authMethods,
            connectTimeout: timeout, operationTimeout: timeout, keepaliveInterval: keepalive,
            compression: compression ?? false, addressFamily: ipv6Only == true ? .ipv6 : .any)
    }
}
