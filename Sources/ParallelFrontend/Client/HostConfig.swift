import Foundation
import Logging
import SSHBackend
import SSHConfig

/// A private key for authentication: a file path (`~` expanded) or the key text itself, with an optional passphrase,
/// or a key file with its OpenSSH user certificate.
///
/// Unlike parallel-ssh, the password is never used as the key's passphrase: give the passphrase here.
public enum PrivateKey: Sendable {
    /// A key file.
    case file(String, passphrase: String? = nil)
    /// The text of a key file, held in memory.
    case memory(String, passphrase: String? = nil)
    /// A key file and its user certificate (`ssh-keygen -s` output, usually `<key>-cert.pub`); parallel-ssh's
    /// `pkey` with `cert_file`. Needs an engine with the `userCertificates` capability (the libssh engine).
    case certificate(String, certificate: String, passphrase: String? = nil)

    var authMethod: SSHAuthMethod {
        switch self {
        case .file(let path, let passphrase): return .privateKeyFile(path: path, passphrase: passphrase)
        case .memory(let text, let passphrase): return .privateKey(SSHPrivateKeyData(text), passphrase: passphrase)
        case .certificate(let key, let certificate, let passphrase):
            return .certificate(keyPath: key, certificatePath: certificate, passphrase: passphrase)
        }
    }

    /// The files this key needs, `~` expanded.
    var paths: [String] {
        switch self {
        case .file(let path, _): return [expandTilde(path)]
        case .memory: return []
        case .certificate(let key, let certificate, _):
            return [expandTilde(key), expandTilde(certificate)]
        }
    }
}

/// The connection settings of a client (``ParallelSSHClient``, ``SSHClient``) and, per host, what overrides them.
///
/// One type serves both: the client's `config` sets the values for every host, an entry of `hostConfig`
/// overrides the fields it sets for its host, and every field left `nil` falls back to the next level, then to
/// the default written in its documentation. Unlike parallel-ssh (which merges with `or`), `false` and `0` do
/// override: `HostConfig(allowAgent: false)` turns the agent off for that host even when the client allows it.
///
/// ```swift
/// let client = try ParallelSSHClient(
///     hosts: ["web1", "web2", "db1"],
///     config: HostConfig(user: "deploy", privateKey: .file("~/.ssh/id_ed25519"), timeout: .seconds(10)),
///     hostConfig: [HostConfig(), HostConfig(), HostConfig(user: "postgres", port: 2222)])
/// ```
public struct HostConfig: Sendable {
    /// Login user (default: the local user, from the password database as OpenSSH takes it).
    public var user: String?
    /// Port (default 22).
    public var port: Int?
    /// Password, for password or keyboard-interactive authentication (tried last).
    public var password: String?
    /// Private key, tried first (a missing or unreadable key file is an `invalidKey` error when the client is made).
    public var privateKey: PrivateKey?
    /// A name to tell this entry apart from others with the same host (shown in output and logs).
    public var alias: String?
    /// Connection attempts in all, the first included (default 3, as parallel-ssh's `num_retries`). Attempts that
    /// fail for reasons worth trying again are repeated: a timeout, an unreachable host, a failed handshake, a
    /// connection lost while being set up, a temporary name-resolution failure. A refused connection, a name that
    /// does not exist and authentication failures are not: they would fail the same way.
    public var connectionAttempts: Int?
    /// Pause between connection attempts (default 5 s).
    public var retryDelay: Duration?
    /// Per-step timeout: name resolution with TCP connect, handshake, authentication, channel open (default 60 s;
    /// `.zero` for none, as parallel-ssh's `None`).
    public var timeout: Duration?
    /// Try the SSH agent (default `true`).
    public var allowAgent: Bool?
    /// Try the default identity files `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` (default `true`).
    public var identityAuth: Bool?
    /// Keepalive interval (default 60 s, as parallel-ssh's default client; `.zero` turns keepalives off).
    public var keepalive: Duration?
    /// Keepalives in a row that may go unanswered before the host counts as dead and its connection fails with
    /// `connectionLost` (default 3, OpenSSH's `ServerAliveCountMax`: a silent host is noticed after about
    /// `keepalive` x 4).
    public var keepaliveCountMax: Int?
    /// zlib compression (default `false`).
    public var compression: Bool?
    /// Connect over IPv6 only (default `false`).
    public var ipv6Only: Bool?
    /// Use keyboard-interactive (answering with the password) instead of password authentication (default `false`).
    public var keyboardInteractive: Bool?
    /// Log in with Kerberos tickets (GSSAPI, `gssapi-with-mic`), tried before keys as ssh tries it (default
    /// `false`, as ssh's `GSSAPIAuthentication` and parallel-ssh's `gssapi_auth`). Needs an engine with
    /// `SSHCapability.gssapiAuth` (libssh); on another, the attempt is recorded as not supported.
    public var gssapiAuth: Bool?
    /// How Kerberos logins are made when ``gssapiAuth`` is on: delegation (`ssh -K`), the server and client
    /// identities (default: ssh's, no delegation).
    public var gssapi: SSHGSSAPIOptions?
    /// Forward the local SSH agent to the host, as `ssh -A` (default `.off`, as ssh). Asked for here, it needs an
    /// engine with `SSHCapability.agentForwarding` (the client's initialiser throws `unsupported`
    /// otherwise); from ssh_config's `ForwardAgent`, an engine without it leaves the agent unforwarded.
    public var forwardAgent: AgentForwarding?
    /// The most bytes each output stream of a command holds unread while `join` (or a reader of the other stream)
    /// waits for it to end (default 16 MiB). Beyond it, that host's join fails with `outputLimitExceeded` rather
    /// than wait for ever; the output stays readable.
    public var unreadOutputLimit: Int?
    /// How the host's key is checked (default: OpenSSH's known-hosts files; a host whose key is not known there is
    /// refused with an error saying how to trust it). See `SSHHostKeyPolicy`.
    public var hostKeyPolicy: SSHHostKeyPolicy?
    /// Jump hosts to reach this host through: a chain as `ssh -J` takes it (``JumpRoute/hosts(_:)``), or
    /// parallel-ssh's one proxy with settings of its own (``JumpRoute/proxy(host:port:user:password:privateKey:)``).
    /// Default: as `ssh_config`'s `ProxyJump` or `ProxyCommand` says, else directly.
    public var jump: JumpRoute?
    /// Which `ssh_config` files give the settings this configuration leaves `nil` (default: `~/.ssh/config`,
    /// then `/etc/ssh/ssh_config`, as `ssh` reads them; `.disabled` for none). Explicit values here win over the
    /// files, as `ssh`'s command line does. Only the client's configuration sets it.
    public var sshConfig: SSHConfigSource?

    /// Creates a configuration; every argument defaults to "the next level's value".
    public init(
        user: String? = nil, port: Int? = nil, password: String? = nil, privateKey: PrivateKey? = nil,
        alias: String? = nil, connectionAttempts: Int? = nil, retryDelay: Duration? = nil,
        timeout: Duration? = nil, allowAgent: Bool? = nil, identityAuth: Bool? = nil,
        keepalive: Duration? = nil, keepaliveCountMax: Int? = nil, compression: Bool? = nil, ipv6Only: Bool? = nil,
        keyboardInteractive: Bool? = nil, gssapiAuth: Bool? = nil, gssapi: SSHGSSAPIOptions? = nil,
        forwardAgent: AgentForwarding? = nil, unreadOutputLimit: Int? = nil, hostKeyPolicy: SSHHostKeyPolicy? = nil,
        jump: JumpRoute? = nil,
        sshConfig: SSHConfigSource? = nil
    ) {
        self.user = user
        self.port = port
        self.password = password
        self.privateKey = privateKey
        self.alias = alias
        self.connectionAttempts = connectionAttempts
        self.retryDelay = retryDelay
        self.timeout = timeout
        self.allowAgent = allowAgent
        self.identityAuth = identityAuth
        self.keepalive = keepalive
        self.keepaliveCountMax = keepaliveCountMax
        self.compression = compression
        self.ipv6Only = ipv6Only
        self.keyboardInteractive = keyboardInteractive
        self.gssapiAuth = gssapiAuth
        self.gssapi = gssapi
        self.forwardAgent = forwardAgent
        self.unreadOutputLimit = unreadOutputLimit
        self.hostKeyPolicy = hostKeyPolicy
        self.jump = jump
        self.sshConfig = sshConfig
    }

    /// These settings without what authenticates or names one host (password, key, keyboard-interactive, alias,
    /// jump route): what a jump hop named by ``JumpRoute/hosts(_:)`` or `ProxyJump` starts from, as `ssh -J`
    /// gives a hop only its own configuration. Host-key checking, timeouts and the `ssh_config` files stay.
    var withoutCredentials: HostConfig {
        var copy = self
        copy.password = nil
        copy.privateKey = nil
        copy.keyboardInteractive = nil
        copy.alias = nil
        copy.jump = nil
        return copy
    }

    /// The settings the caller gave for one host: `self` over the client's `config`, checked (the fields still
    /// `nil` come from `ssh_config`, then ``defaults``, when the host connects).
    /// - Parameters:
    ///   - backend: the engine the host will use (what it cannot do is refused here).
    ///   - readableFiles: key files already found readable (a key shared by many hosts is checked once).
    /// - Throws: `invalidArgument` for a value out of range, `invalidKey` naming a key or certificate file that is
    ///   missing or unreadable, `unsupported` for agent forwarding asked of an engine that cannot carry it.
    func resolved(
        over client: HostConfig, host: String, backend: any SSHBackend, readableFiles: inout Set<String>
    ) throws(SSHError) -> HostConfig {
        let config = merged(over: client)
        let port = config.portOrDefault
        func bad(_ message: String) -> SSHError { SSHError(.invalidArgument, host: host, port: port, message: message) }
        if host.isEmpty { throw bad("the host name is empty") }
        // Asked for by the caller; ssh_config's `ForwardAgent` (read when the host connects) is left unforwarded
        // instead on such an engine, and noted in the channel's refused requests.
        if let forwarding = config.forwardAgent, forwarding != .off, !backend.supports(.agentForwarding) {
            throw SSHError(
                .unsupported, host: host, port: port,
                message:
                    "agent forwarding is not supported by the \(backend.name) engine (libssh2 1.10 drops the channel "
                    + "the server opens for the agent); use the libssh engine")
        }
        // Before anything is expanded into a ProxyCommand or `Match exec`, as OpenSSH checks its command line.
        try SSHNameCheck.checkHost(host, port: port)
        if let user = config.user { try SSHNameCheck.checkUser(user, host: host, port: port) }
        var proxyKey: PrivateKey?
        switch config.jump {
        case .proxy(let proxyHost, let proxyPort, let proxyUser, _, let privateKey):
            if let problem = SSHNameCheck.hostNameProblem(proxyHost) {
                throw bad("the proxy host '\(proxyHost)' \(problem)")
            }
            if let proxyUser {
                try SSHNameCheck.checkUser(proxyUser, host: host, port: port, role: "proxy user name")
            }
            if let proxyPort, !(1...65535).contains(proxyPort) {
                throw bad("the proxy's port \(proxyPort) is outside 1...65535")
            }
            proxyKey = privateKey
        case .hosts(let hops):
            for hop in hops {
                do { _ = try Self.jumpSpecs(hop) } catch { throw error.on(host: host, port: port) }
            }
        case nil: break
        }
        if !(1...65535).contains(port) { throw bad("port \(port) is outside 1...65535") }
        if config.keyboardInteractiveOrDefault && config.password == nil {
            throw bad("keyboardInteractive needs a password to answer the prompts with")
        }
        if let timeout = config.timeout, timeout < .zero {
            throw bad("timeout must not be negative (.zero: none), got \(timeout)")
        }
        if let attempts = config.connectionAttempts, attempts < 1 {
            throw bad("connectionAttempts counts the first attempt too and must be at least 1, got \(attempts)")
        }
        if let delay = config.retryDelay, delay < .zero { throw bad("retryDelay must not be negative, got \(delay)") }
        if let keepalive = config.keepalive, keepalive < .zero || (keepalive > .zero && keepalive < .seconds(1)) {
            throw bad("keepalive must be at least 1 s (.zero: off), got \(keepalive)")
        }
        if let count = config.keepaliveCountMax, count < 0 {
            throw bad("keepaliveCountMax must not be negative, got \(count)")
        }
        if let limit = config.unreadOutputLimit, limit < 1 {
            throw bad("unreadOutputLimit must be positive, got \(limit)")
        }
        let keyFiles = (config.privateKey?.paths ?? []) + (proxyKey?.paths ?? [])
        for path in keyFiles where !readableFiles.contains(path) {
            guard FileManager.default.isReadableFile(atPath: path) else {
                let reason = FileManager.default.fileExists(atPath: path) ? "is not readable" : "does not exist"
                throw SSHError(.invalidKey, host: host, port: port, message: "the key file \(path) \(reason)")
            }
            readableFiles.insert(path)
        }
        return config
    }

    /// The authentication methods to try, in order: Kerberos when on, the private key, the agent, the default
    /// identities, then the password (or keyboard-interactive with it). OpenSSH's order; parallel-ssh stops after a
    /// given key.
    var authMethods: [SSHAuthMethod] {
        var methods: [SSHAuthMethod] = []
        if gssapiAuthOrDefault { methods.append(.gssapi(gssapiOrDefault)) }
        if let privateKey { methods.append(privateKey.authMethod) }
        if allowAgentOrDefault { methods.append(.agent()) }
        if identityAuthOrDefault { methods.append(.defaultIdentities()) }
        if let password {
            methods.append(
                keyboardInteractiveOrDefault ? .keyboardInteractive(password: password) : .password(password))
        }
        return methods
    }

    /// The connection options for `host` (of a resolved configuration).
    func connectionOptions(host: String) -> SSHConnectionOptions {
        let timeout = timeout.flatMap { $0 > .zero ? $0 : nil }
        let keepalive = keepalive.flatMap { $0 > .zero ? $0 : nil }
        var options = SSHConnectionOptions(
            host: host, port: portOrDefault, user: user ?? SSHConnectionOptions.currentUser, authMethods: authMethods,
            connectTimeout: timeout, operationTimeout: timeout, keepaliveInterval: keepalive,
            compression: compressionOrDefault, addressFamily: ipv6OnlyOrDefault ? .ipv6 : .any,
            hostKeyPolicy: hostKeyPolicy ?? SSHHostKeyPolicy())
        options.keepaliveCountMax = keepaliveCountMaxOrDefault
        options.forwardAgent = (forwardAgent ?? .off).socketPath
        return options
    }

    /// Warns once through `logger` when host-key checking is off for any of `configs` (resolved, one per host).
    static func warnIfInsecure(_ configs: [HostConfig], hosts: [String], logger: Logger?) {
        let insecure = zip(hosts, configs).filter { _, config in
            if case .off = config.hostKeyPolicy?.mode { return true }
            return false
        }
        guard let first = insecure.first else { return }
        logger?.warning(
            "host-key checking is off: a server impersonating a host is not detected",
            metadata: ["hosts": "\(insecure.count)", "first": "\(first.0)"])
    }
}

extension PrivateKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key, with its passphrase and (for ``memory(_:passphrase:)``) its text redacted.
    public var description: String { authMethod.description }
    public var debugDescription: String { description }
    /// A mirror without the secrets (for `dump`).
    public var customMirror: Mirror { Mirror(self, children: ["key": description]) }
}

extension HostConfig: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The fields that are set, with passwords, passphrases and key text redacted.
    public var description: String {
        let shown = Self.fields.compactMap { field in field.shown(self).map { "\(field.name): \($0)" } }
        return "HostConfig(\(shown.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    /// A mirror without the secrets (for `dump`).
    public var customMirror: Mirror { Mirror(self, children: ["settings": description]) }
}
