import SSHBackend

/// The default of every ``HostConfig`` field that has one, in one place: ``HostConfig/defaults`` is made of these,
/// and the client reads a field that neither the caller nor `ssh_config` set through the accessors below.
enum HostConfigDefault {
    static let port = 22
    static let connectionAttempts = 3
    static let retryDelay: Duration = .seconds(5)
    static let timeout: Duration = .seconds(60)
    static let allowAgent = true
    static let identityAuth = true
    static let keepalive: Duration = .seconds(60)
    static let keepaliveCountMax = 3
    static let compression = false
    static let ipv6Only = false
    static let keyboardInteractive = false
    static let gssapiAuth = false
    static let gssapi = SSHGSSAPIOptions()
    static let unreadOutputLimit = SSHChannelRequest.defaultUnreadOutputLimit
    /// How long a destination that turns connections away before its banner is tried again, without a timeout.
    static let turnedAwayDeadline: Duration = .seconds(60)
}

extension HostConfig {
    /// The value of every field when neither the caller nor `ssh_config` sets it.
    public static let defaults = HostConfig(
        port: HostConfigDefault.port, connectionAttempts: HostConfigDefault.connectionAttempts,
        retryDelay: HostConfigDefault.retryDelay, timeout: HostConfigDefault.timeout,
        allowAgent: HostConfigDefault.allowAgent, identityAuth: HostConfigDefault.identityAuth,
        keepalive: HostConfigDefault.keepalive, keepaliveCountMax: HostConfigDefault.keepaliveCountMax,
        compression: HostConfigDefault.compression, ipv6Only: HostConfigDefault.ipv6Only,
        keyboardInteractive: HostConfigDefault.keyboardInteractive, gssapiAuth: HostConfigDefault.gssapiAuth,
        gssapi: HostConfigDefault.gssapi, unreadOutputLimit: HostConfigDefault.unreadOutputLimit)

    /// ``port``, else its default.
    var portOrDefault: Int { port ?? HostConfigDefault.port }
    /// ``connectionAttempts``, else its default.
    var connectionAttemptsOrDefault: Int { connectionAttempts ?? HostConfigDefault.connectionAttempts }
    /// ``retryDelay``, else its default.
    var retryDelayOrDefault: Duration { retryDelay ?? HostConfigDefault.retryDelay }
    /// ``allowAgent``, else its default.
    var allowAgentOrDefault: Bool { allowAgent ?? HostConfigDefault.allowAgent }
    /// ``identityAuth``, else its default.
    var identityAuthOrDefault: Bool { identityAuth ?? HostConfigDefault.identityAuth }
    /// ``keepaliveCountMax``, else its default.
    var keepaliveCountMaxOrDefault: Int { keepaliveCountMax ?? HostConfigDefault.keepaliveCountMax }
    /// ``compression``, else its default.
    var compressionOrDefault: Bool { compression ?? HostConfigDefault.compression }
    /// ``ipv6Only``, else its default.
    var ipv6OnlyOrDefault: Bool { ipv6Only ?? HostConfigDefault.ipv6Only }
    /// ``keyboardInteractive``, else its default.
    var keyboardInteractiveOrDefault: Bool { keyboardInteractive ?? HostConfigDefault.keyboardInteractive }
    /// ``gssapiAuth``, else its default.
    var gssapiAuthOrDefault: Bool { gssapiAuth ?? HostConfigDefault.gssapiAuth }
    /// ``gssapi``, else its default.
    var gssapiOrDefault: SSHGSSAPIOptions { gssapi ?? HostConfigDefault.gssapi }
}
