import SSHBackend

/// Where a native step (handshake, authentication, a channel request, a close) stands.
package enum NativeStep {
    /// The library would block; step again on the next wake-up.
    case wouldBlock
    /// Finished successfully.
    case done
    /// Failed with this error; a `connectionLost` error ends the whole connection.
    case failed(SSHError)
}

/// What a native write or EOF call came to.
package enum NativeOutcome {
    /// Bytes accepted (for a write), or done (for EOF, with 0).
    case done(Int)
    /// The library would block; try again on the next wake-up.
    case wouldBlock
    /// The call failed; `connectionLost` errors end the whole connection.
    case failed(SSHError)
}

/// One of a channel's two output streams.
package enum ChannelStream: CaseIterable, Sendable {
    /// The command's standard output (SSH channel data).
    case stdout
    /// The command's standard error (SSH extended data, type 1).
    case stderr
}

/// What pumping a library's transport came to (for libraries that buffer the socket themselves).
package enum TransportPump {
    /// Nothing arrived or left.
    case idle
    /// Bytes moved.
    case progressed
    /// Bytes moved and more are waiting, but this wake-up's budget is spent: drive again on the next loop turn.
    case budgetSpent
    /// The transport is gone.
    case failed(SSHError)
}

/// What an engine supplies for one connection: its C library's calls and nothing else. The shared
/// ``ConnectionDriver`` owns the phases, the operation queue and its deadlines, keepalive, the channels and the
/// order of work on every wake-up; it calls these on its event loop's thread only.
package protocol NativeConnection: AnyObject, SendableMetatype {
    /// The engine's calls for opening a channel.
    associatedtype Opener: NativeChannelOpener where Opener.Native == Self
    /// The engine's authentication steps.
    associatedtype Authenticator: NativeAuthenticator where Authenticator.Native == Self
    /// The engine's native channel.
    typealias Channel = Opener.Channel

    /// Creates the native side of a connection in `context`.
    init(context: ConnectionContext)

    /// Parses (and decrypts) a private key into the engine's key cache, before a connection that offers it starts;
    /// off the loops, once per key for the process.
    static func prepareKey(_ contents: [UInt8], passphrase: String?) async

    /// What to connect to, and the socket.
    var context: ConnectionContext { get }
    /// An error from the library's last error on this session, naming the host (`message` when it has none).
    func nativeError(_ code: SSHError.Code, _ message: String) -> SSHError

    /// What the engine can negotiate (the order of each offer is decided above the engines).
    static var supportedAlgorithms: SSHAlgorithmSupport { get }
    /// Creates the native session on the connected socket (once, before the first handshake step), offering
    /// `algorithms` in their order (a `nil` list keeps the library's own).
    func makeSession(algorithms: SSHNegotiationLists) throws(SSHError)
    /// The host key the server presented, once the handshake is done (nothing has been sent since).
    func serverHostKey() -> SSHHostKey?
    /// One step of the SSH handshake.
    func handshake() -> NativeStep
    /// Whether the server's identification (its `SSH-` banner line) arrived; asked before the session is torn
    /// down. A server that closes after sending only other text (sshd past MaxStartups says "Exceeded
    /// MaxStartups") never sent one.
    var receivedServerBanner: Bool { get }
    /// The first bytes the library read from the server during the handshake, as far as it kept them (for telling
    /// a failed handshake apart when they were read before the driver could look); `[]` when it keeps none.
    var serverPreamble: [UInt8] { get }
    /// Lets the library move what its own buffers hold to and from the socket, so that channels see their input
    /// (``NativeChannel/hasBufferedInput(_:)``).
    func pumpTransport() -> TransportPump
    /// After every drive: the library may have closed the socket itself.
    func reconcileSocket()
    /// Sends a keepalive (the interval is `seconds`); `.failed` ends the connection.
    func sendKeepalive(interval seconds: Int) -> NativeStep
    /// The text of the server's pre-authentication banner (`SSH_MSG_USERAUTH_BANNER`, sshd's `Banner`), once
    /// authenticated; `nil` when there was none or the library does not keep it.
    func authenticationBanner() -> String?
    /// A new opener for one channel.
    func channelOpener() -> Opener
    /// The channels the server opened to reach the forwarded agent (`auth-agent@openssh.com`) since the last call,
    /// accepted and running; the driver carries each to the local agent.
    func takeAgentChannels() -> [Channel]
    /// Frees the native session (saying goodbye first when `graceful`); the driver closes the socket after.
    func teardown(graceful: Bool)
}

/// What an engine supplies for one open channel: its C library's calls. The shared ``ChannelDriver`` owns the
/// streams, writes, EOF, the close sequence and every waiter; it calls these on the loop thread only.
package protocol NativeChannel: AnyObject {
    /// Reads what is available on `stream` (up to `scratch.count` bytes, read into `scratch` where the library
    /// needs a buffer). Empty when nothing is available now.
    func read(_ stream: ChannelStream, scratch: UnsafeMutableRawBufferPointer) throws(SSHError) -> [UInt8]
    /// Whether the library holds input for `stream` (or may: `true` when it cannot tell) without touching the
    /// socket. Channels without any are not read, so a pass over many channels costs no system call per channel;
    /// the connection's ``NativeConnection/pumpTransport()`` fills the library's buffers.
    func hasBufferedInput(_ stream: ChannelStream) -> Bool
    /// Writes stdin bytes; `.done(n)` with how many the library took.
    func write(_ bytes: UnsafeRawBufferPointer) -> NativeOutcome
    /// Sends EOF on stdin.
    func sendEOF() -> NativeOutcome
    /// Whether the remote side sent EOF (and both streams are drained).
    var receivedEOF: Bool { get }
    /// Sends our CLOSE.
    func close() -> NativeStep
    /// After our CLOSE that answered the remote EOF: whether the server's CLOSE arrived.
    func awaitClosed() -> NativeStep
    /// The command's exit, once the channel closed after the remote EOF.
    func exitStatus() -> Result<SSHExitStatus, SSHError>
    /// Frees the native channel.
    func free() -> NativeStep
    /// Lets go of the native channel before its session is torn down (if the library needs that).
    func detach()
    /// Sends a signal (a name without `SIG`) to the remote command.
    func sendSignal(_ name: String) -> Result<Void, SSHError>
}

/// The native steps of opening one channel, which an engine supplies to ``OpenChannelOperation``. Each step is
/// called again with the same arguments until it stops returning `wouldBlock`.
package protocol NativeChannelOpener: AnyObject {
    /// The engine's native connection.
    associatedtype Native: NativeConnection
    /// The engine's native channel.
    associatedtype Channel: NativeChannel
    /// Opens a session channel, with a receive window of `window` bytes where the library lets the caller choose
    /// (`nil`: its default).
    func open(_ connection: Native, window: Int?) -> NativeStep
    /// Opens a `direct-tcpip` channel to `host:port` (the channel is running once this is done), with a receive
    /// window of `window` bytes where the library lets the caller choose (`nil`: its default).
    func openDirectTCPIP(host: String, port: Int, window: Int?, _ connection: Native) -> NativeStep
    /// Sends one environment variable.
    func setEnvironment(_ name: String, _ value: String, _ connection: Native) -> NativeStep
    /// Requests a pseudo-terminal.
    func requestPTY(_ pty: SSHPTYRequest, _ connection: Native) -> NativeStep
    /// Asks the server to forward the agent through this connection (`auth-agent-req@openssh.com`); a
    /// `channelFailure` when the engine cannot accept the channels the server would open for it.
    func requestAgentForwarding(_ connection: Native) -> NativeStep
    /// Starts the command, shell or subsystem.
    func start(_ kind: SSHChannelRequest.Kind, _ connection: Native) -> NativeStep
    /// The channel once `open` succeeded: the running channel after `start`, or one to close and free when a
    /// later step failed.
    var channel: Channel? { get }
    /// Lets go of ``channel`` (the caller discarded it), so that the next `open` makes a new one.
    func forgetChannel()
}

/// An engine's authentication steps for one connection, stepped by the shared ``ConnectOperation`` with the same
/// arguments until it stops returning `wouldBlock`. It works from the shared ``AuthPlan``, so both engines try the
/// same things in the same order.
package protocol NativeAuthenticator: AnyObject {
    /// The engine's native connection.
    associatedtype Native: NativeConnection
    /// Authenticates as `options` say, with `attempts` (planned and prepared before the connection started);
    /// `wake` steps the connection again, from any thread, after work done off the loop.
    init(options: SSHConnectionOptions, attempts: [AuthAttempt], wake: @escaping @Sendable () -> Void)
    /// One step of authentication.
    func step(_ connection: Native) -> NativeStep
}

/// What a native connection is given: what to connect to and how to authenticate, and the socket (connected by the
/// driver before the native session is made, watched by the loop, shared with the library).
package struct ConnectionContext {
    /// What to connect to and how to authenticate.
    package let options: SSHConnectionOptions
    /// The TCP socket.
    package let socket: ConnectionSocket
}

extension NativeConnection {
    /// No banner, for libraries that do not keep it (libssh2 1.10 drops it).
    package func authenticationBanner() -> String? { nil }

    /// No agent channels, for engines that cannot accept them.
    package func takeAgentChannels() -> [Channel] { [] }

    /// What to connect to and how to authenticate.
    package var options: SSHConnectionOptions { context.options }

    /// An error naming this connection's host and port.
    package func error(_ code: SSHError.Code, _ message: String, native: Int32? = nil, nativeMessage: String? = nil)
        -> SSHError
    {
        SSHError(
            code, host: options.host, port: options.port, message: message, nativeCode: native,
            nativeMessage: nativeMessage)
    }

    /// The error for a failed channel-level call: `connectionLost` when the transport is gone (`lost`), otherwise
    /// `channelFailure` with `message`.
    package func channelError(lost: Bool, _ message: String) -> SSHError {
        if lost { return nativeError(.connectionLost, "the connection to \(options.host):\(options.port) was lost") }
        return nativeError(.channelFailure, message)
    }
}
