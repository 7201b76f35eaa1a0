import CLibSSH
import SSHBackend
import SSHEngineCore
import SSHEventLoop

#if canImport(Glibc)
import Glibc
#endif

/// One libssh session and its socket, owned by one event loop thread (every member is loop-confined).
///
/// Mirrors ``LibSSH2Connection``: a state machine driven by readiness, where ``drive()`` pumps the transport,
/// steps the head session-level operation and pumps every open channel until nothing makes progress.
///
/// libssh differs in three ways that shape this type:
/// - libssh reads its socket 4 KiB at a time, and only through its own `poll()`. On every wake-up the transport is
///   pumped with `ssh_event_dopoll(event, 0)` on a per-session `ssh_event` (one fd, so O(1)) until libssh's poll
///   finds nothing, so edge-triggered epoll never leaves bytes behind. The `ssh_event` is never our loop.
/// - libssh closes the socket itself on some errors, and switches it to blocking mode after connecting. The
///   socket is put back in non-blocking mode after each handshake step; after every drive the connection checks
///   whether libssh closed it, and then only forgets the number (which may already belong to a new socket)
///   instead of closing it a second time. Teardown makes libssh let go of the socket (`ssh_disconnect` with a
///   caller-supplied socket never closes it) before the connection closes it.
/// - Exit status and exit signal only arrive through channel callbacks (see ``LibSSHChannelState``).
final class LibSSHConnection: ConnectingConnection, StatefulConnection {
    let loop: EventLoop
    let options: SSHConnectionOptions
    /// Bytes each output stream may hold before the channel stops being read.
    let streamCapacity: Int
    /// The TCP socket, watched by the loop and shared with libssh.
    let socket: ConnectionSocket

    private(set) var session: OpaquePointer?
    private var event: OpaquePointer?
    /// Whether libssh holds the socket (from the first `ssh_connect` call on).
    private var socketHandedOverToLibSSH = false
    private(set) lazy var state = ConnectionState<LibSSHConnection, LibSSHChannelState>(
        loop: loop, host: options.host, port: options.port) { [unowned self] in self.fail($0) }
    private var keepaliveTimer: TimerID?
    private var resumeScheduled = false
    private var authenticator: LibSSHAuthenticator?

    /// How many 4 KiB transport reads one wake-up may do before other connections on the loop get a turn.
    private static let pumpBudget = 256

    init(loop: EventLoop, options: SSHConnectionOptions, streamCapacity: Int) {
        self.loop = loop
        self.options = options
        self.streamCapacity = streamCapacity
        self.socket = ConnectionSocket(loop: loop)
    }

    // MARK: Native session

    /// Creates the libssh session (non-blocking) on the connected socket. It never resolves names,
    /// connects, or reads `~/.ssh/config` or known_hosts files of its own accord.
    func makeSession() throws(SSHError) -> OpaquePointer {
        if let session { return session }
        _ = LibSSHLibrary.initialized
        guard let created = ssh_new() else {
            throw error(.resourceExhausted, "libssh could not allocate a session")
        }
        ssh_set_blocking(created, 0)
        setOption(created, SSH_OPTIONS_FD, socket.fd)
        if !options.host.contains("@") { setOption(created, SSH_OPTIONS_HOST, options.host) }
        setOption(created, SSH_OPTIONS_PORT, UInt32(clamping: options.port))
        setOption(created, SSH_OPTIONS_USER, options.user)
        setOption(created, SSH_OPTIONS_PROCESS_CONFIG, false)
        // Host keys are verified by this package, not by libssh reading the user's files behind the caller's back.
        setOption(created, SSH_OPTIONS_KNOWNHOSTS, "/dev/null")
        setOption(created, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null")
        setOption(created, SSH_OPTIONS_COMPRESSION, options.compression ? "yes" : "no")
        session = created
        return created
    }

    /// After each `ssh_connect` call: libssh holds the socket (and switched it to blocking mode, which is undone
    /// here), and its socket moves into a private `ssh_event`, used only to pump the transport.
    func socketHandedOver() {
        socketHandedOverToLibSSH = true
        socket.ensureNonBlocking()
        guard event == nil, let session, let created = ssh_event_new() else { return }
        if ssh_event_add_session(created, session) == SSH_OK {
            event = created
        } else {
            ssh_event_free(created)
        }
    }

    func stepHandshake() -> NativeStep {
        let session: OpaquePointer
        do { session = try makeSession() } catch { return .failed(error) }
        let rc = ssh_connect(session)
        socketHandedOver()
        if rc == sshAgain { return .wouldBlock }
        if rc != SSH_OK {
            return .failed(nativeError(.handshakeFailed, "the SSH handshake with \(options.host):\(options.port) failed"))
        }
        return .done
    }

    func stepAuthentication() -> NativeStep {
        if authenticator == nil { authenticator = LibSSHAuthenticator(options: options) }
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

    /// An error built from libssh's last error on this session.
    func nativeError(_ code: SSHError.Code, _ message: String) -> SSHError {
        guard let session else { return error(code, message) }
        let text = ssh_get_error(UnsafeMutableRawPointer(session)).map { String(cString: $0) } ?? ""
        let native = ssh_get_error_code(UnsafeMutableRawPointer(session))
        return error(code, text.isEmpty ? message : "\(message): \(text)", native: native, nativeMessage: text)
    }

    /// Whether the transport itself is gone (as opposed to one channel or request failing).
    var transportLost: Bool {
        guard let session else { return true }
        return ssh_is_connected(session) == 0 || ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR) != 0
    }

    /// The error for a failed channel-level call, distinguishing a dead transport from a refused request.
    func channelError(_ message: String) -> SSHError {
        if transportLost {
            return nativeError(.connectionLost, "the connection to \(options.host):\(options.port) was lost")
        }
        return nativeError(.channelFailure, message)
    }

    // MARK: Operations

    func openChannel(_ request: SSHChannelRequest,
                     completion: @escaping (Result<LibSSHChannelState, any Error>) -> Void) {
        enqueue(OpenChannelOperation(request: request, timeout: options.operationTimeout,
                                         opener: LibSSHChannelOpener(), completion: completion))
    }

    // MARK: Driving

    func handleIO(_ events: IOEvents) {
        drive()
    }

    /// Pumps the transport, steps operations and pumps channels until nothing makes progress.
    func drive() {
        defer { noticeSocketClosedByLibSSH() }
        while failure == nil {
            var progress = pumpTransport()
            if failure != nil { return }
            if state.stepOperations(self) { progress = true }
            if failure != nil { return }
            if state.pumpChannels() { progress = true }
            if failure != nil || !progress { return }
        }
    }

    /// Lets libssh read what arrived and flush what it queued, until its own poll finds nothing more. Returns
    /// whether anything happened. When the budget runs out the rest waits for the loop's next turn.
    private func pumpTransport() -> Bool {
        guard let event else { return false }
        var progress = false
        for _ in 0..<Self.pumpBudget {
            let rc = ssh_event_dopoll(event, 0)
            if rc == sshAgain { return progress }
            if rc == SSH_ERROR {
                fail(nativeError(.connectionLost, "the connection to \(options.host):\(options.port) was lost"))
                return false
            }
            progress = true
        }
        if !resumeScheduled {
            resumeScheduled = true
            let bound = LoopBound(self, loop: loop)
            loop.execute {
                bound.value.resumeScheduled = false
                bound.value.drive()
            }
        }
        return progress
    }

    /// If libssh closed the socket after an error, stop watching it without closing the number again.
    private func noticeSocketClosedByLibSSH() {
        guard socketHandedOverToLibSSH, socket.fd >= 0, let session, ssh_get_fd(session) < 0 else { return }
        socket.forget()
    }

    // MARK: Keepalive

    /// Starts the keepalive timer if the options ask for one (libssh has no timer of its own).
    func startKeepalive() {
        guard let interval = options.keepaliveInterval else { return }
        let seconds = max(2, interval.components.seconds)
        keepaliveTimer = loop.scheduleTimer(after: .seconds(seconds)) { [weak self] in
            guard let self, let session = self.session, self.failure == nil else { return }
            if ssh_send_keepalive(session) == SSH_ERROR {
                self.fail(self.nativeError(.connectionLost, "keepalive failed"))
                return
            }
            self.startKeepalive()
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

    /// Frees the native session and closes the socket. libssh always gets the chance to say goodbye: with a
    /// caller-supplied socket, `ssh_disconnect` is also what makes it let go of the socket.
    private func teardown(graceful _: Bool) {
        if let keepaliveTimer { loop.cancelTimer(keepaliveTimer) }
        keepaliveTimer = nil
        noticeSocketClosedByLibSSH()
        if let session {
            if let event {
                ssh_event_remove_session(event, session)
                ssh_event_free(event)
                self.event = nil
            }
            if ssh_get_fd(session) >= 0 {
                // With a caller-supplied socket, ssh_disconnect sends DISCONNECT (if it still can) and lets go of the
                // socket without closing it; ssh_free would otherwise close it under us.
                ssh_disconnect(session)
            }
            ssh_free(session)
            self.session = nil
        }
        socket.abandon()
    }
}
