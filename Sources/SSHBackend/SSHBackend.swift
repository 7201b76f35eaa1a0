/// An SSH engine: a factory for sessions plus the set of things it can do.
///
/// Engines (`LibSSH2Backend`, `LibSSHBackend`) implement this protocol; the parallel frontend and the
/// conformance suite are written against it alone, so any engine can be picked at init:
///
/// ```swift
/// let backend: any SSHBackend = LibSSH2Backend()
/// let session = try await backend.connect(SSHConnectionOptions(host: "web1", authMethods: [.agent()]))
/// let channel = try await session.exec("uname -a")
/// for try await chunk in channel.stdout { … }
/// ```
public protocol SSHBackend: Sendable {
    /// A short name for the engine, e.g. `"libssh2"`.
    var name: String { get }
    /// The native library's version string.
    var libraryVersion: String { get }
    /// What this engine can do.
    var capabilities: Set<SSHCapability> { get }

    /// Resolves the host, connects TCP, performs the SSH handshake and authenticates.
    ///
    /// - Throws: ``SSHError`` with code ``SSHError/Code/unknownHost``, ``SSHError/Code/connectionRefused``,
    ///   ``SSHError/Code/timeout``, ``SSHError/Code/handshakeFailed``, ``SSHError/Code/authenticationFailed``
    ///   (with the attempts) or ``SSHError/Code/invalidKey``, always naming the host and port.
    ///   Cancelling the calling task abandons the connection and throws `CancellationError`.
    func connect(_ options: SSHConnectionOptions) async throws -> any SSHSession

    /// An executor the parallel client may prefer for its own per-host work on this engine's sessions (not for a
    /// caller's code): one that keeps a task resumed by the engine on the thread that resumed it. `nil` (the
    /// default): Swift's global executor.
    var preferredTaskExecutor: (any TaskExecutor)? { get }
}

extension SSHBackend {
    /// Whether the engine has `capability`.
    public func supports(_ capability: SSHCapability) -> Bool { capabilities.contains(capability) }

    /// None: Swift's global executor.
    public var preferredTaskExecutor: (any TaskExecutor)? { nil }
}

/// Where a session's connection stands.
public enum SSHSessionState: Sendable {
    /// Open: channels can be opened.
    case open
    /// Closed by the caller (``SSHSession/close()``).
    case closed
    /// Lost (the server hung up, the network failed, a keepalive went unanswered). `idle` says that nothing was
    /// in flight then: no channel open and no request sent that could have started anything, so a new connection
    /// may do what this one was about to without doing anything twice.
    case lost(SSHError, idle: Bool)
}

/// An authenticated SSH connection to one host. Channels opened on it share its TCP connection.
public protocol SSHSession: Sendable {
    /// The options the session was opened with.
    var options: SSHConnectionOptions { get }

    /// Opens a session channel and starts `request` on it (a command or a shell).
    ///
    /// Several channels may be open at once on one session (see ``SSHCapability/concurrentChannels``).
    /// - Throws: ``SSHError/Code/channelFailure`` when the server refuses the channel or a request,
    ///   ``SSHError/Code/sessionClosed`` after ``close()``, ``SSHError/Code/unsupported`` for a missing
    ///   capability.
    func openChannel(_ request: SSHChannelRequest) async throws -> any SSHChannel

    /// Disconnects: open channels end (their streams finish), pending operations fail with
    /// ``SSHError/Code/sessionClosed``. Idempotent.
    func close() async

    /// The server's pre-authentication banner (sshd's `Banner`, what `ssh` prints before the password prompt),
    /// unaltered; `nil` when it sent none or the engine lacks ``SSHCapability/authenticationBanner``. It is never
    /// mixed into a command's output.
    var authenticationBanner: String? { get }

    /// Whether the connection is open, closed or lost (never waits: the engine publishes it as it changes).
    var state: SSHSessionState { get }
}

extension SSHSession {
    /// No banner (engines that do not keep it).
    public var authenticationBanner: String? { nil }

    /// Open, for sessions that do not track their connection.
    public var state: SSHSessionState { .open }

    /// Runs `command` on a new channel (shorthand for `openChannel(.exec(command))`).
    public func exec(_ command: String, pty: SSHPTYRequest? = nil, environment: [String: String] = [:])
        async throws -> any SSHChannel
    {
        try await openChannel(SSHChannelRequest(kind: .exec(command), pty: pty, environment: environment))
    }
}
