import SSHBackend
import SSHEventLoop

/// One connection on either engine, driven by socket readiness on its event loop's thread (every member is
/// loop-confined): the session-level operation queue with its deadlines (connect, authenticate, open a channel),
/// the open channels, keepalive, and the end of it all, around the engine's ``NativeConnection``.
///
/// On every wake-up ``drive()`` lets the library pump its transport, steps the head operation, then pumps every
/// open channel, until a full pass makes no progress. Any native call may read the socket and queue packets meant
/// for someone else (a channel read can pull in the reply a pending channel open waits for, and an open can pull
/// in channel data); the socket then stays quiet, so only a pass in which nothing moved ends the drive.
package final class ConnectionDriver<Native: NativeConnection>: IOHandler {
    /// The loop that owns the connection.
    package let loop: EventLoop
    /// What to connect to and how to authenticate.
    package let options: SSHConnectionOptions
    /// Bytes each output stream may hold before its channel stops being read.
    let streamCapacity: Int
    /// The TCP socket, watched by the loop and shared with the library.
    package let socket: ConnectionSocket
    /// What the server sent before its key exchange ended, to tell a failure then as it happened.
    package var handshakeFailure = HandshakeFailure()
    /// Whether the key exchange ended (the host-key check and authentication follow).
    package var keyExchangeDone = false
    /// The connection's state, published for any thread (``SSHSession/state``).
    package let published: PublishedSessionState
    /// The engine's calls.
    package let native: Native
    private lazy var operations = OperationQueue<ConnectionDriver>(
        loop: loop, host: options.host, port: options.port
    ) { [unowned self] in self.fail($0) }
    private var channels: [ChannelDriver<Native>] = []
    /// Set once the connection is unusable; everything after fails with it.
    package private(set) var failure: SSHError?
    private var keepaliveTimer: TimerID?
    /// Whether the peer sent anything since the last keepalive tick, and how many ticks in a row it did not.
    private var heardSinceKeepalive = false
    private var unansweredKeepalives = 0
    private var redriveScheduled = false
    /// How many channels ran to their end on this connection, to explain a server that hangs up once they have.
    private var finishedChannels = 0
    /// Whether a channel of this connection was ever spliced to a local socket (a jump tunnel, a forwarded agent):
    /// what it reads is then acknowledged at once (``ConnectionSocket/acknowledgeNow()``).
    var carriesTunnels = false

    /// Creates the connection on `loop` (its thread only).
    package init(
        loop: EventLoop, options: SSHConnectionOptions, streamCapacity: Int,
        published: PublishedSessionState = PublishedSessionState()
    ) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.published = published
        self.options = options
        self.streamCapacity = streamCapacity
        socket = ConnectionSocket(loop: loop)
        native = Native(context: ConnectionContext(options: options, socket: socket))
    }

    // MARK: Operations

    /// Queues a session-level operation and drives (or fails it at once if the connection already failed).
    package func enqueue(_ operation: any EngineOperation<ConnectionDriver>) {
        if let failure {
            operation.fail(failure)
            return
        }
        operations.append(operation)
        drive()
    }

    /// Restarts the head operation's deadline (an operation with phases calls this between them).
    package func restartDeadline(_ timeout: Duration?, activity: String) {
        operations.restartDeadline(timeout, activity: activity)
    }

    /// Opens a channel for `request` behind the other session-level operations.
    package func openChannel(
        _ request: SSHChannelRequest,
        completion: @escaping (Result<ChannelDriver<Native>, any Error>) -> Void
    ) {
        enqueue(
            OpenChannelOperation(
                request: request, timeout: options.operationTimeout,
                opener: native.channelOpener(), completion: completion))
    }

    /// Starts pumping a channel that `start` succeeded on; see ``SSHChannelRequest/unreadOutputLimit``.
    func adopt(_ channel: Native.Channel, unreadOutputLimit: Int? = nil) -> ChannelDriver<Native> {
        let driver = ChannelDriver(
            native: channel, connection: self,
            unreadOutputLimit: unreadOutputLimit ?? SSHChannelRequest.defaultUnreadOutputLimit)
        channels.append(driver)
        return driver
    }

    /// Closes and frees a half-set-up channel in the background.
    func discard(_ channel: Native.Channel) {
        adopt(channel).discard()
    }

    // MARK: Driving

    package var loopActivity: String {
        "connection to \(options.host):\(options.port): \(operations.activity ?? "channels")"
    }

    package func handleIO(_ events: IOEvents) {
        if events.contains(.readable) { heardSinceKeepalive = true }
        // Before any native call reads it (on any wake-up: the library reads whenever it is called): what the
        // server sends first tells a failed handshake apart.
        if !keyExchangeDone {
            handshakeFailure.peek(socket.fd)
            if events.contains(.hangup) || events.contains(.error) { handshakeFailure.peerHungUp = true }
        }
        drive()
        if carriesTunnels, events.contains(.readable), failure == nil { socket.acknowledgeNow() }
        if events.contains(.hangup) || events.contains(.error), failure == nil {
            // The peer is gone. Channels paused by backpressure would not read again until their consumer does,
            // and a waiter for an exit status would hang: let the library see the end now.
            for channel in channels { channel.readEvenIfPaused() }
            drive()
        }
    }

    /// Pumps the transport, steps operations and pumps channels until a pass makes no progress.
    package func drive() {
        defer { if failure == nil { native.reconcileSocket() } }
        while failure == nil {
            var progress = false
            var budgetSpent = false
            switch native.pumpTransport() {
            case .idle: break
            case .progressed: progress = true
            case .budgetSpent: budgetSpent = true
            case .failed(let error):
                fail(error)
                return
            }
            if operations.step(self, stopped: { failure != nil }) { progress = true }
            if failure != nil { return }
            if carryForwardedAgents() { progress = true }
            if pumpChannels() { progress = true }
            if failure != nil { return }
            if budgetSpent {
                // Other connections on this loop get their turn; this one continues on the next.
                scheduleRedrive()
                return
            }
            if !progress && !operations.step(self, stopped: { failure != nil }) { return }
        }
    }

    /// Carries each channel the server opened to reach the forwarded agent to a new connection to the local agent,
    /// spliced to it inside the loop both ways with backpressure (as a jump tunnel). Returns whether there were any.
    private func carryForwardedAgents() -> Bool {
        guard options.forwardAgent != nil else { return false }  // on every pass: nothing to ask otherwise
        let opened = native.takeAgentChannels()
        for channel in opened {
            guard let path = options.forwardAgent, let fd = AgentClient.connect(path, nonBlocking: true) else {
                discard(channel)  // the remote client sees the channel end: no agent to talk to
                continue
            }
            adopt(channel).splice(to: SocketSplice(fd: fd, cause: TunnelCause()))
        }
        return !opened.isEmpty
    }

    /// Pumps every channel once, forgetting those that finished. Returns whether any progressed.
    private func pumpChannels() -> Bool {
        var progress = false
        var index = 0
        while index < channels.count {
            let channel = channels[index]
            if channel.pump() { progress = true }
            if failure != nil { return progress }
            if channel.isFinished {
                finishedChannels += 1
                channels.remove(at: index)
            } else {
                index += 1
            }
        }
        return progress
    }

    /// Drives once the loop has run what is queued now: many channel requests arriving together (writes from the
    /// tunnels of a jump connection, readers asking for more) share one pass over the channels.
    package func driveSoon() { scheduleRedrive() }

    private func scheduleRedrive() {
        if redriveScheduled { return }
        redriveScheduled = true
        let bound = LoopBound(self, loop: loop)
        loop.execute {
            bound.value.redriveScheduled = false
            bound.value.drive()
        }
    }

    // MARK: Keepalive

    /// Starts keepalives once authenticated, if the options ask for them.
    func startKeepalive() {
        guard let interval = options.keepaliveInterval else { return }
        scheduleKeepalive(seconds: Int(max(2, interval.components.seconds)))
    }

    /// Every `seconds`: OpenSSH's ServerAliveInterval check. Anything received since the last tick resets the
    /// count; a tick after a silent interval counts one more unanswered keepalive (each tick sends one that asks
    /// for a reply), and once `keepaliveCountMax` are unanswered the peer counts as dead and the connection fails
    /// with `connectionLost`.
    private func scheduleKeepalive(seconds: Int) {
        keepaliveTimer = loop.scheduleTimer(after: .seconds(seconds), name: "keepalive") { [weak self] in
            guard let self, self.failure == nil else { return }
            if self.heardSinceKeepalive {
                self.unansweredKeepalives = 0
            } else {
                // A whole interval of silence: OpenSSH's server_alive_check.
                if let limit = self.options.keepaliveCountMax, self.unansweredKeepalives >= limit {
                    self.fail(
                        SSHError(
                            .connectionLost, host: self.options.host, port: self.options.port,
                            message: "the server answered none of \(limit) keepalives sent \(seconds) s apart "
                                + "(ServerAliveInterval x ServerAliveCountMax): the peer is unreachable or stopped"))
                    return
                }
                self.unansweredKeepalives += 1
            }
            self.heardSinceKeepalive = false
            if case .failed(let error) = self.native.sendKeepalive(interval: seconds) {
                self.fail(error)
                return
            }
            self.scheduleKeepalive(seconds: seconds)
            self.drive()
        }
    }

    // MARK: Ending

    /// Fails everything pending with `error` and tears the connection down.
    package func fail(_ error: any Error) {
        let sshError =
            (error as? SSHError)
            ?? SSHError(.sessionClosed, host: options.host, port: options.port, message: "the operation was cancelled")
        end(failure: sshError, operationError: error, graceful: false)
    }

    /// Closes at the caller's request: channels end, pending operations fail, the library says goodbye.
    package func close() {
        let closed = SSHError(.sessionClosed, host: options.host, port: options.port, message: "the session was closed")
        end(failure: closed, operationError: closed, graceful: true)
    }

    /// Records `failure`, detaches the channels, tears down, then fails pending operations with `operationError`
    /// and ends every channel.
    private func end(failure: SSHError, operationError: any Error, graceful: Bool) {
        if self.failure != nil { return }
        var failure = failure
        var operationError = operationError
        if !graceful, let cause = socket.transport?.lossCause {
            // The socket closed because the jump connection under it was lost: say so, naming the hop.
            failure = cause
            if operationError is SSHError { operationError = cause }
        } else if !graceful, !keyExchangeDone, operationError is SSHError {
            // What the server did before key exchange ended, told the same way on every engine (a ProxyCommand that
            // ends early is its own failure, not a server's refusal).
            handshakeFailure.peek(socket.fd)  // has the peer gone meanwhile?
            if let classified = handshakeFailure.filled(from: native.serverPreamble)
                .classify(
                    failure, receivedBanner: native.receivedServerBanner,
                    closed: failure.code == .connectionLost || handshakeFailure.peerHungUp,
                    proxied: options.proxyCommand != nil)
            {
                failure = classified
                operationError = classified
            }
        }
        let open = channels
        channels.removeAll()
        // What the library already received stays the callers': a command whose EOF and exit arrived before the
        // loss (a server that hangs up right after its last channel) ends as it did, not with the loss.
        let ended = graceful ? 0 : open.filter { $0.salvage() }.count
        if !graceful, failure.code == .connectionLost, socket.transport?.lossCause == nil, ended == open.count,
            finishedChannels + ended > 0, operationError is SSHError
        {
            failure.message +=
                "; the server hung up once its last channel had ended (some servers, TinySSH for one, "
                + "serve a single channel per connection: use a new connection for each command)"
            operationError = failure
        }
        self.failure = failure
        let pending = operations.removeAll()
        published.set(
            graceful
                ? .closed
                : .lost(failure, idle: open.allSatisfy { $0.isFinished } && pending.allSatisfy { $0.isUnstarted }))
        for channel in open { channel.detach() }
        if let keepaliveTimer { loop.cancelTimer(keepaliveTimer) }
        keepaliveTimer = nil
        native.teardown(graceful: graceful)
        socket.abandon()
        for operation in pending { operation.fail(operationError) }
        for channel in open where !channel.isFinished { channel.finish(failure) }
    }
}
