import SSHBackend
import SSHEventLoop

/// One open channel on either engine: the phases of its life, the order of work on every pump, and its
/// ``ChannelCore`` (streams, writes, EOF, exit and their waiters), driven through the engine's ``NativeChannel``.
/// Loop thread only; its connection pumps it on every drive.
///
/// The phases: `running` (reads, writes and EOF flow) until the remote EOF or a close by the caller; `closing`
/// sends our CLOSE; after a remote EOF `waitingClosed` waits for the server's CLOSE and then takes the exit
/// status; `freeing` frees the native channel; `finished` resolves every waiter. A caller's close while the
/// command runs does not wait for the server: the exit status fails at once and the channel finishes behind.
package final class ChannelDriver<Native: NativeConnection> {
    private typealias Phase = ChannelPhase

    /// What the server refused while the channel was set up (set before the channel is handed out).
    package var refusedRequests = SSHRefusedRequests()

    /// How many stdin bytes one native write may be offered.
    private static var writeLimit: Int { 256 * 1024 }

    /// The streams, queued writes and waiters.
    package let core: ChannelCore
    private let native: Native.Channel
    private unowned let connection: ConnectionDriver<Native>
    private var phase = Phase.running
    /// The local socket the channel is joined to (a jump tunnel, a forwarded agent), instead of its streams.
    private var splice: SocketSplice?

    /// Starts driving `native`, a running channel of `connection`; each stream holds at most `unreadOutputLimit`
    /// bytes while someone waits for the channel's end.
    init(native: Native.Channel, connection: ConnectionDriver<Native>, unreadOutputLimit: Int) {
        self.native = native
        self.connection = connection
        let bound = LoopBound(connection, loop: connection.loop)
        core = ChannelCore(
            capacity: connection.streamCapacity, limit: unreadOutputLimit, host: connection.options.host,
            port: connection.options.port, onDemand: { bound.execute { $0.driveSoon() } })
    }

    /// The driver, to be carried off the loop thread.
    var bound: LoopBound<ChannelDriver> { LoopBound(self, loop: connection.loop) }

    /// Whether the command still runs (writes, EOF and close are accepted).
    var isRunning: Bool { phase == .running }

    /// Whether the channel is fully closed and freed (the connection then forgets it).
    var isFinished: Bool { phase == .finished }

    // MARK: Requests (loop thread)

    /// Queues stdin bytes; resumes `continuation` once the library took them all.
    package func write(_ bytes: [UInt8], _ continuation: CheckedContinuation<Void, any Error>) {
        if core.enqueueWrite(bytes, continuation, open: isRunning) { connection.driveSoon() }
    }

    /// Sends EOF after the queued writes.
    package func requestEOF(_ continuation: CheckedContinuation<Void, any Error>) {
        if core.requestEOF(continuation, open: isRunning) { connection.driveSoon() }
    }

    /// Waits for the exit status (see ``ChannelCore/waitForExit(_:)``); a new waiter lets full streams read on
    /// up to their limit, so the connection drives at once.
    package func waitForExit(_ continuation: CheckedContinuation<SSHExitStatus, any Error>) -> UInt64? {
        guard let id = core.waitForExit(continuation) else { return nil }
        connection.drive()
        return id
    }

    /// Sends a signal (a name without `SIG`) to the remote command.
    package func sendSignal(_ name: String, _ continuation: CheckedContinuation<Void, any Error>) {
        guard isRunning else {
            continuation.resume(throwing: core.error(.sessionClosed, "cannot send a signal: the channel ended"))
            return
        }
        switch native.sendSignal(name) {
        case .success:
            continuation.resume()
            connection.drive()
        case .failure(let error):
            continuation.resume(throwing: error)
            if error.code == .connectionLost { connection.fail(error) }
        }
    }

    /// Closes the channel; resumes `continuation` (if any) once it is closed on our side.
    package func close(_ continuation: CheckedContinuation<Void, any Error>?) {
        if isFinished {
            continuation?.resume()
            return
        }
        core.addCloser(continuation)
        if isRunning { beginClosing(byUser: true) }
        connection.drive()
    }

    /// Joins the channel to a local socket inside the loop (see ``SocketSplice``); the channel's streams stay empty.
    /// Called before the channel is first pumped.
    func splice(to splice: SocketSplice) {
        self.splice = splice
        connection.carriesTunnels = true
        splice.attach(to: connection.loop) { [unowned connection] in connection.driveSoon() }
    }

    /// Closes and frees a channel nobody will use (a request during setup failed).
    func discard() {
        beginClosing(byUser: true)
    }

    private func beginClosing(byUser: Bool) {
        apply(byUser ? .closedByCaller : .remoteEOF)
        core.beginClosing(byUser: byUser)
    }

    /// Moves to the phase `event` leads to, and runs what the move asks (``ChannelPhase/transition(_:_:)``).
    private func apply(_ event: ChannelPhase.Event) {
        let (next, actions) = ChannelPhase.transition(phase, event)
        phase = next
        for action in actions {
            switch action {
            case .resumeClosers: core.resumeClosers()
            case .settleExit: core.settleExit(core.exit ?? native.exitStatus())
            case .finish:
                splice?.end(nil)
                core.finish(nil)
            }
        }
    }

    // MARK: Pumping (loop thread)

    /// Advances writes, reads, EOF and the close sequence as far as the library allows. Returns whether anything
    /// progressed.
    func pump() -> Bool {
        if phase == .detached {
            phase = .finished
            return false
        }
        var progress = false
        if phase == .running {
            do {
                if let splice {
                    if try splice.pump(native, scratch: connection.loop.scratch) { progress = true }
                    if splice.peerGone {
                        beginClosing(byUser: true)  // the socket's peer is gone: nobody to carry the data to
                        progress = true
                    }
                } else {
                    if try pumpWrites() { progress = true }
                    if try pumpReads(force: false) { progress = true }
                }
            } catch {
                return fail(error)
            }
            if phase == .running && native.receivedEOF && splice?.isDrained ?? true {
                // Both streams are drained (to the spliced socket too) and the remote sent EOF.
                splice?.shutdownWrite()
                beginClosing(byUser: false)
                progress = true
            }
        }
        if case .closing = phase {
            let outcome = native.close()
            // Closed by the caller while the command runs: our CLOSE is on its way. The server answers only when
            // the command lets go of its output, which may be much later, so callers of close() do not wait for
            // that; the channel finishes in the background.
            apply(.closeCalled)
            guard let moved = advance(outcome) else { return progress }
            if !moved { return false }
            apply(.closeSent)
            progress = true
        }
        if phase == .waitingClosed {
            guard let moved = advance(native.awaitClosed()) else { return progress }
            if !moved { return false }
            apply(.serverClosed)
            progress = true
        }
        if case .freeing = phase {
            if case .wouldBlock = native.free() { return progress }
            apply(.freed)
            progress = true
        }
        return progress
    }

    /// Where a close-sequence step leaves the channel: nil to wait for the next wake-up, false when it ended the
    /// connection (the transport is gone), true to move on (a refused close changes nothing on our side).
    private func advance(_ step: NativeStep) -> Bool? {
        switch step {
        case .wouldBlock:
            return nil
        case .failed(let error) where error.code == .connectionLost:
            connection.fail(error)
            return false
        case .failed, .done:
            return true
        }
    }

    /// A read or write failed: a lost transport ends the connection, anything else this channel.
    private func fail(_ error: SSHError) -> Bool {
        if error.code == .connectionLost {
            connection.fail(error)
            return false
        }
        apply(.failed)
        return true
    }

    /// After the peer hung up: reads even streams paused by backpressure, so the library sees the transport's end
    /// and reports it (instead of a paused channel never reading again and its exit waiter hanging).
    func readEvenIfPaused() {
        guard phase == .running, splice == nil else { return }
        do { _ = try pumpReads(force: true) } catch { _ = fail(error) }
    }

    private func pumpWrites() throws(SSHError) -> Bool {
        try core.pumpWrites(limit: Self.writeLimit, write: native.write, sendEOF: native.sendEOF)
    }

    private func pumpReads(force: Bool) throws(SSHError) -> Bool {
        let scratch = connection.loop.scratch
        return try core.pumpReads(force: force) { (stream) throws(SSHError) -> [UInt8] in
            guard force || native.hasBufferedInput(stream) else { return [] }
            return try native.read(stream, scratch: scratch)
        }
    }

    // MARK: Ending

    /// The connection is failing: keeps what the library already holds. Reads whatever it buffered; if the server
    /// had sent EOF and the exit status (the command ended and only the close exchange was left), the channel
    /// finishes with that exit instead of the connection's failure. Returns whether it did.
    func salvage() -> Bool {
        guard !isFinished, phase != .detached else { return isFinished }
        if splice != nil { return false }  // a tunnel has no exit to keep: it ends with the connection's failure
        if phase == .running { _ = try? pumpReads(force: true) }
        guard phase.sawRemoteEOF || native.receivedEOF, case .success(let status) = core.exit ?? native.exitStatus()
        else {
            return false
        }
        core.settleExit(.success(status))
        finish(nil)
        return true
    }

    /// Lets go of the native channel before the session is torn down.
    func detach() {
        if phase == .detached || phase == .finished { return }
        native.detach()
        phase = .detached
    }

    /// Resolves every waiter; `error` is the connection's failure, if that is why the channel ends.
    func finish(_ error: SSHError?) {
        phase = .finished
        splice?.end(error)
        core.finish(error)
    }
}

/// The phases of a channel's life, and the one place that says how it moves between them.
///
/// `running` (reads, writes and EOF flow) until the remote EOF or a close by the caller; `closing` sends our CLOSE;
/// after a remote EOF `waitingClosed` waits for the server's CLOSE and then the exit status is settled; `freeing`
/// frees the native channel; `finished` resolves every waiter. `detached`: the session is being torn down and the
/// native channel let go.
package enum ChannelPhase: Equatable, Sendable {
    case running
    case closing(afterRemoteEOF: Bool)
    case waitingClosed
    case freeing(afterRemoteEOF: Bool)
    case detached
    case finished

    /// What happened to the channel.
    package enum Event: Equatable, Sendable {
        /// The remote sent EOF and both streams are drained.
        case remoteEOF
        /// The caller closed the channel (or a setup request failed).
        case closedByCaller
        /// A read or write failed (not the transport).
        case failed
        /// Our CLOSE was handed to the library (it may still be on its way).
        case closeCalled
        /// Our CLOSE went out (or the library refused it: nothing changes on our side).
        case closeSent
        /// The server's CLOSE arrived.
        case serverClosed
        /// The native channel was freed.
        case freed
    }

    /// What a move asks the driver to do.
    package enum Action: Equatable, Sendable {
        /// Resume the callers of `close()`.
        case resumeClosers
        /// Settle the exit status (the server's, now that its CLOSE arrived).
        case settleExit
        /// Resolve every waiter.
        case finish
    }

    /// Whether the remote's EOF came before the close began.
    package var sawRemoteEOF: Bool {
        switch self {
        case .closing(let afterEOF), .freeing(let afterEOF): afterEOF
        case .waitingClosed: true
        default: false
        }
    }

    /// The move from `phase` on `event`: the next phase and what to do. An event that does not apply changes nothing.
    package static func transition(_ phase: ChannelPhase, _ event: Event) -> (ChannelPhase, [Action]) {
        switch (phase, event) {
        case (.running, .remoteEOF): return (.closing(afterRemoteEOF: true), [])
        case (.running, .closedByCaller), (.running, .failed): return (.closing(afterRemoteEOF: false), [])
        // Closed by the caller while the command runs: callers do not wait for the server's answer.
        case (.closing(false), .closeCalled): return (phase, [.resumeClosers])
        case (.closing(true), .closeCalled): return (phase, [])
        case (.closing(true), .closeSent): return (.waitingClosed, [])
        case (.closing(false), .closeSent): return (.freeing(afterRemoteEOF: false), [])
        case (.waitingClosed, .serverClosed): return (.freeing(afterRemoteEOF: true), [.settleExit])
        case (.freeing, .freed): return (.finished, [.finish])
        default: return (phase, [])
        }
    }
}
