import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// A native connection whose calls follow a script the test sets (loop thread only): no C library, no socket.
final class ScriptedConnection: NativeConnection {
    typealias Authenticator = ScriptedAuthenticator

    let context: ConnectionContext
    /// Every channel opened so far.
    var opened: [ScriptedChannel] = []
    /// Whether `open` keeps answering "would block".
    var openBlocks = false
    /// How many of the next channels the server closes as it confirms them.
    var closedAsConfirmed = 0
    /// How often the session was torn down, and whether gracefully.
    var teardowns: [Bool] = []

    init(context: ConnectionContext) { self.context = context }
    static func prepareKey(_: [UInt8], passphrase _: String?) async {}

    func nativeError(_ code: SSHError.Code, _ message: String) -> SSHError { error(code, message) }
    static let supportedAlgorithms = SSHAlgorithmSupport(
        hostKeys: ["ssh-ed25519"], ciphers: [], keyExchange: [], macs: [])
    func makeSession(algorithms _: SSHNegotiationLists) throws(SSHError) {}
    func serverHostKey() -> SSHHostKey? { nil }
    func handshake() -> NativeStep { .done }
    /// Whether the scripted server sent its banner (a dropped connection is scripted with `false`).
    var receivedServerBanner = true
    var serverPreamble: [UInt8] = []
    /// When set, the next transport pump fails with it (the peer hung up).
    var transportFailure: SSHError?
    func pumpTransport() -> TransportPump { transportFailure.map { .failed($0) } ?? .idle }
    func reconcileSocket() {}
    func sendKeepalive(interval _: Int) -> NativeStep { .done }
    func channelOpener() -> ScriptedOpener { ScriptedOpener() }
    func teardown(graceful: Bool) { teardowns.append(graceful) }
}

/// Authenticates at once.
final class ScriptedAuthenticator: NativeAuthenticator {
    init(options _: SSHConnectionOptions, attempts _: [AuthAttempt], wake _: @escaping @Sendable () -> Void) {}
    func step(_: ScriptedConnection) -> NativeStep { .done }
}

/// Opens a ``ScriptedChannel`` unless the connection's script says to block.
final class ScriptedOpener: NativeChannelOpener {
    private(set) var channel: ScriptedChannel?

    func open(_ connection: ScriptedConnection, window _: Int?) -> NativeStep {
        if connection.openBlocks { return .wouldBlock }
        let channel = ScriptedChannel(connection: connection)
        if connection.closedAsConfirmed > 0 {
            // The server confirms the channel and closes it in the same breath.
            connection.closedAsConfirmed -= 1
            channel.remoteEOF = true
            channel.remoteClosed = true
        }
        connection.opened.append(channel)
        self.channel = channel
        return .done
    }
    func openDirectTCPIP(host _: String, port _: Int, window _: Int?, _ connection: ScriptedConnection) -> NativeStep {
        open(connection, window: nil)
    }
    func setEnvironment(_: String, _: String, _: ScriptedConnection) -> NativeStep { .done }
    func requestPTY(_: SSHPTYRequest, _: ScriptedConnection) -> NativeStep { .done }
    func requestAgentForwarding(_: ScriptedConnection) -> NativeStep { .done }
    func start(_: SSHChannelRequest.Kind, _ connection: ScriptedConnection) -> NativeStep {
        channel?.started = true
        return .done
    }
    func forgetChannel() { channel = nil }
}

/// A channel whose output, EOF, close and exit come from the test; it records what the driver did.
final class ScriptedChannel: NativeChannel {
    private unowned let connection: ScriptedConnection
    /// Chunks still to be read, per stream.
    var pending: [ChannelStream: [[UInt8]]] = [:]
    /// The error the next read throws, if any.
    var readError: SSHError?
    /// Whether the remote sent EOF (reported once the script's output was read).
    var remoteEOF = false
    /// Whether the server's CLOSE arrived.
    var remoteClosed = false
    /// The exit the server reported.
    var exit: Result<SSHExitStatus, SSHError> = .success(SSHExitStatus(code: 0))
    /// At most how many stdin bytes one write takes.
    var window = Int.max
    /// How many stdin bytes the remote window takes in all, until the test opens it further.
    var windowLeft = Int.max
    /// What the driver did, in order (after the start request).
    var calls: [String] = []
    /// Whether the command was started on it.
    var started = false
    /// Stdin as written.
    var written: [UInt8] = []

    init(connection: ScriptedConnection) { self.connection = connection }

    /// Script chunks left for `stream`, or an error to throw.
    func hasBufferedInput(_ stream: ChannelStream) -> Bool {
        readError != nil || pending[stream]?.isEmpty == false
    }

    func read(_ stream: ChannelStream, scratch _: UnsafeMutableRawBufferPointer) throws(SSHError) -> [UInt8] {
        if let readError { throw readError }
        guard var chunks = pending[stream], !chunks.isEmpty else { return [] }
        let chunk = chunks.removeFirst()
        pending[stream] = chunks
        return chunk
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> NativeOutcome {
        let count = min(bytes.count, window, windowLeft)
        if count == 0 { return .wouldBlock }
        if windowLeft != Int.max { windowLeft -= count }
        written += bytes.prefix(count)
        calls.append("write \(count)")
        return .done(count)
    }

    func sendEOF() -> NativeOutcome {
        calls.append("eof")
        return .done(0)
    }

    var receivedEOF: Bool { remoteEOF && pending.values.allSatisfy(\.isEmpty) }

    func close() -> NativeStep {
        calls.append("close")
        return .done
    }

    func awaitClosed() -> NativeStep { remoteClosed ? .done : .wouldBlock }

    func exitStatus() -> Result<SSHExitStatus, SSHError> {
        calls.append("exit")
        return exit
    }

    func free() -> NativeStep {
        calls.append("free")
        return .done
    }

    func detach() { calls.append("detach") }

    func sendSignal(_ name: String) -> Result<Void, SSHError> {
        calls.append("signal \(name)")
        return .success(())
    }
}
