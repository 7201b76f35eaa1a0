import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop

#if canImport(Glibc)
import Glibc
#endif

/// One libssh2 session and its socket, owned by one event loop thread (every member is loop-confined).
///
/// The connection is a state machine driven by readiness: on every wake-up ``drive()`` steps the head
/// session-level operation, then pumps every open channel (writes, stdout, stderr, EOF, close) until nothing
/// makes progress. Pumping every stream of every channel before waiting again matters: a stdout read may pull
/// a stderr packet into libssh2's memory and return EAGAIN while the socket stays quiet.
final class LibSSH2Connection: ConnectingConnection, StatefulConnection {
    let loop: EventLoop
    let options: SSHConnectionOptions
    /// Bytes each output stream may hold before the channel stops being read.
    let streamCapacity: Int

    private(set) var session: OpaquePointer?
    /// The TCP socket, watched by the loop.
    let socket: ConnectionSocket
    private(set) lazy var state = ConnectionState<LibSSH2Connection, LibSSH2ChannelState>(
        loop: loop, host: options.host, port: options.port) { [unowned self] in self.fail($0) }
    private var keepaliveTimer: TimerID?
    private var authenticator: LibSSH2Authenticator?
    /// The responder for a keyboard-interactive exchange in progress (read by the C callback).
    var keyboardInteractiveResponder: SSHKeyboardInteractiveResponder?

    init(loop: EventLoop, options: SSHConnectionOptions, streamCapacity: Int) {
        self.loop = loop
        self.options = options
        self.streamCapacity = streamCapacity
        self.socket = ConnectionSocket(loop: loop)
    }

    // MARK: Socket and native session

    /// Creates the libssh2 session (non-blocking), passing `self` as the callbacks' abstract pointer.
    func makeSession() throws(SSHError) -> OpaquePointer {
        if let session { return session }
        _ = LibSSH2Library.initialized
        guard let created = clibssh2_session_init(Unmanaged.passUnretained(self).toOpaque()) else {
            throw error(.resourceExhausted, "libssh2 could not allocate a session")
        }
        libssh2_session_set_blocking(created, 0)
        if options.compression { libssh2_session_flag(created, LIBSSH2_FLAG_COMPRESS, 1) }
        session = created
        return created
    }

    func stepHandshake() -> NativeStep {
        let session: OpaquePointer
        do { session = try makeSession() } catch { return .failed(error) }
        let rc = libssh2_session_handshake(session, socket.fd)
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        if rc != 0 {
            return .failed(nativeError(.handshakeFailed, "the SSH handshake with \(options.host):\(options.port) failed"))
        }
        return .done
    }

    func stepAuthentication() -> NativeStep {
        if authenticator == nil { authenticator = LibSSH2Authenticator(options: options) }
        let outcome = authenticator!.step(self)
        if case .wouldBlock = outcome { return outcome }
        authenticator = nil
        return outcome
    }

    /// An error naming this connection's host and port.
    func error(_ code: SSHError.Code, _ message: String, native: Int32? = nil, nativeMessage: String? = nil) -> SSHError {
        SSHError(code, host: options.host, port: options.port, message: message, nativeCode: native,
                 nativeMessage: nativeMessage)
    }

    /// An error built from libssh2's last error on this session.
    func nativeError(_ code: SSHError.Code, _ message: String) -> SSHError {
        guard let session else { return error(code, message) }
        var buffer = [CChar](repeating: 0, count: 512)
        let native = clibssh2_last_error(session, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return error(code, text.isEmpty ? message : "\(message): \(text)", native: native, nativeMessage: text)
    }

    /// The error for a failed channel-level call, distinguishing a dead transport from a refused request.
    func channelError(_ rc: Int, _ message: String) -> SSHError {
        if isTransportError(Int32(truncatingIfNeeded: rc)) {
            return nativeError(.connectionLost, "the connection to \(options.host):\(options.port) was lost")
        }
        return nativeError(.channelFailure, message)
    }

    // MARK: Operations

    func openChannel(_ request: SSHChannelRequest,
                     completion: @escaping (Result<LibSSH2ChannelState, any Error>) -> Void) {
        enqueue(OpenChannelOperation(request: request, timeout: options.operationTimeout,
                                         opener: LibSSH2ChannelOpener(), completion: completion))
    }

    // MARK: Driving

    func handleIO(_ events: IOEvents) {
        drive()
        if events.contains(.hangup) || events.contains(.error), failure == nil, session != nil {
            // The peer is gone. Channels paused by backpressure would not read again until their consumer does,
            // and a waiter for an exit status would hang: let libssh2 see the EOF now.
            probeTransport()
        }
    }

    /// Steps operations and pumps channels until nothing makes progress.
    ///
    /// Any libssh2 call may read the socket and queue packets meant for someone else: a channel read can pull in
    /// the reply a pending channel open waits for, and an open can pull in channel data. The socket then stays
    /// quiet, so the loop only stops after a full pass (operations, then channels, then operations again) in
    /// which nothing moved.
    func drive() {
        while failure == nil {
            var progress = stepOperations()
            if failure != nil { return }
            if state.pumpChannels() { progress = true }
            if failure != nil { return }
            if !progress && !stepOperations() { return }
        }
    }

    /// Steps the head operation (and the ones after it) until one would block. Returns whether any finished.
    private func stepOperations() -> Bool {
        state.stepOperations(self)
    }

    private func probeTransport() {
        // Read even streams paused by backpressure: on a dead transport libssh2 then reports the error, which fails
        // the connection and wakes every waiter.
        for channel in state.channels { channel.readEvenIfPaused() }
        drive()
    }

    // MARK: Keepalive

    /// Starts the keepalive timer if the options ask for one.
    func startKeepalive() {
        guard let interval = options.keepaliveInterval, let session else { return }
        let seconds = UInt32(max(2, interval.components.seconds))
        libssh2_keepalive_config(session, 0, seconds)
        scheduleKeepalive(after: .seconds(Int64(seconds)))
    }

    private func scheduleKeepalive(after delay: Duration) {
        keepaliveTimer = loop.scheduleTimer(after: delay) { [weak self] in
            guard let self, let session = self.session, self.failure == nil else { return }
            var next: Int32 = 0
            let rc = libssh2_keepalive_send(session, &next)
            if rc != 0 && rc != LIBSSH2_ERROR_EAGAIN && isTransportError(rc) {
                self.fail(self.nativeError(.connectionLost, "keepalive failed"))
                return
            }
            self.scheduleKeepalive(after: .seconds(Int64(max(1, next))))
            self.drive()
        }
    }

    // MARK: Ending

    /// Fails everything pending with `error` and tears the connection down.
    func fail(_ error: any Error) {
        state.fail(error, teardown: teardown)
    }

    /// Closes the connection at the caller's request: channels end, pending operations fail.
    func close() {
        state.close(teardown: teardown)
    }

    private func teardown(graceful: Bool) {
        if let keepaliveTimer { loop.cancelTimer(keepaliveTimer) }
        keepaliveTimer = nil
        if let session {
            if graceful { _ = libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "closed", "") }
            // In non-blocking mode libssh2_session_free returns EAGAIN (and frees nothing) while a channel still
            // waits for the server's CLOSE. With the socket shut down those waits fail at once instead.
            socket.shutDown()
            var attempts = 0
            while libssh2_session_free(session) == LIBSSH2_ERROR_EAGAIN && attempts < 16 { attempts += 1 }
            self.session = nil
        }
        socket.abandon()
    }
}
