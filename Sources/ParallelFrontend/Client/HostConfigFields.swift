/// One field of ``HostConfig``: its name, how it merges (the nearer level's value wins, `nil` takes the next
/// level's) and how it prints (secrets redacted).
struct HostConfigField: Sendable {
    let name: String
    let merge: @Sendable (inout HostConfig, HostConfig) -> Void
    let shown: @Sendable (HostConfig) -> String?

    init<Value>(_ name: String, _ path: any WritableKeyPath<HostConfig, Value?> & Sendable, shown: Shown = .value) {
        self.name = name
        merge = { config, fallback in
            if config[keyPath: path] == nil { config[keyPath: path] = fallback[keyPath: path] }
        }
        self.shown = { config in
            config[keyPath: path].map { value in
                switch shown {
                case .value: "\(value)"
                case .redacted: "<redacted>"
                case .placeholder(let text): text
                }
            }
        }
    }

    /// How a set field prints.
    enum Shown: Sendable {
        /// As its own description (which redacts its secrets, for keys and jump routes).
        case value
        /// `<redacted>`: a password.
        case redacted
        /// A fixed text.
        case placeholder(String)
    }
}

extension HostConfig {
    /// Every stored field, in declaration order: the one list that ``merged(over:)`` and `description` walk. A test
    /// checks it names every stored property, so a new field cannot be forgotten by either.
    static let fields: [HostConfigField] = [
        .init("user", \.user), .init("port", \.port), .init("password", \.password, shown: .redacted),
        .init("privateKey", \.privateKey), .init("alias", \.alias), .init("connectionAttempts", \.connectionAttempts),
        .init("retryDelay", \.retryDelay), .init("timeout", \.timeout), .init("allowAgent", \.allowAgent),
        .init("identityAuth", \.identityAuth), .init("keepalive", \.keepalive),
        .init("keepaliveCountMax", \.keepaliveCountMax), .init("compression", \.compression),
        .init("ipv6Only", \.ipv6Only), .init("keyboardInteractive", \.keyboardInteractive),
        .init("gssapiAuth", \.gssapiAuth), .init("gssapi", \.gssapi), .init("forwardAgent", \.forwardAgent),
        .init("unreadOutputLimit", \.unreadOutputLimit),
        .init("hostKeyPolicy", \.hostKeyPolicy, shown: .placeholder("<policy>")), .init("jump", \.jump),
        .init("sshConfig", \.sshConfig),
    ]

    /// This configuration with every `nil` field taken from `fallback`.
    func merged(over fallback: HostConfig) -> HostConfig {
        var result = self
        for field in Self.fields { field.merge(&result, fallback) }
        return result
    }
}
