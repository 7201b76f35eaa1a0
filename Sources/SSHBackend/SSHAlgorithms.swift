/// Algorithm preferences for the key exchange, as OpenSSH's `Ciphers`, `KexAlgorithms`, `MACs` and
/// `HostKeyAlgorithms` give them (already edited with `+`, `-`, `^`). Each list is limited to what the engine
/// supports, in this order; an empty result is an ``SSHError/Code/unsupported`` error naming what is missing.
public struct SSHAlgorithms: Sendable, Hashable {
    /// Host-key algorithms; `nil`: OpenSSH's list, with the types known for the host first.
    public var hostKeys: [String]?
    /// Whether ``hostKeys`` is reordered with the known types first (OpenSSH does so unless the list was given
    /// whole or with `^`).
    public var reorderHostKeys: Bool
    /// Ciphers; `nil`: the engine's own.
    public var ciphers: [String]?
    /// Key-exchange methods; `nil`: the engine's own.
    public var keyExchange: [String]?
    /// MACs; `nil`: the engine's own.
    public var macs: [String]?

    /// Creates preferences; every `nil` list is left to the default.
    public init(
        hostKeys: [String]? = nil, reorderHostKeys: Bool = true, ciphers: [String]? = nil,
        keyExchange: [String]? = nil, macs: [String]? = nil
    ) {
        self.hostKeys = hostKeys
        self.reorderHostKeys = reorderHostKeys
        self.ciphers = ciphers
        self.keyExchange = keyExchange
        self.macs = macs
    }
}

/// What an engine can negotiate, per kind of algorithm.
public struct SSHAlgorithmSupport: Sendable, Hashable {
    /// Host-key algorithms.
    public var hostKeys: [String]
    /// Ciphers.
    public var ciphers: [String]
    /// Key-exchange methods.
    public var keyExchange: [String]
    /// MACs.
    public var macs: [String]

    /// Creates a description of support.
    public init(hostKeys: [String], ciphers: [String], keyExchange: [String], macs: [String]) {
        self.hostKeys = hostKeys
        self.ciphers = ciphers
        self.keyExchange = keyExchange
        self.macs = macs
    }
}

/// The lists an engine is given before the handshake: each already limited to what it supports; `nil` leaves the
/// engine's default.
public struct SSHNegotiationLists: Sendable, Hashable {
    /// Host-key algorithms, in order (always set: both engines must offer the same).
    public var hostKeys: [String]
    /// Ciphers, or `nil`.
    public var ciphers: [String]?
    /// Key-exchange methods, or `nil`.
    public var keyExchange: [String]?
    /// MACs, or `nil`.
    public var macs: [String]?

    /// Creates the lists.
    public init(hostKeys: [String], ciphers: [String]? = nil, keyExchange: [String]? = nil, macs: [String]? = nil) {
        self.hostKeys = hostKeys
        self.ciphers = ciphers
        self.keyExchange = keyExchange
        self.macs = macs
    }
}
