import SSHBackend
import SSHEventLoop

/// An engine's loop-confined channel state, as the shared public ``EngineChannel`` drives it.
package protocol EngineChannelState: AnyObject, SendableMetatype {
    /// The streams, queued writes and waiters.
    var core: ChannelCore { get }
    /// Queues stdin bytes; resumes `continuation` once the library took them all.
    func write(_ bytes: [UInt8], _ continuation: CheckedContinuation<Void, any Error>)
    /// Sends EOF after the queued writes.
    func requestEOF(_ continuation: CheckedContinuation<Void, any Error>)
    /// Sends a signal (a name without `SIG`) to the remote command, or fails with `unsupported`.
    func sendSignal(_ name: String, _ continuation: CheckedContinuation<Void, any Error>)
    /// Closes the channel; resumes `continuation` (if any) once it is closed on our side.
    func close(_ continuation: CheckedContinuation<Void, any Error>?)
}

/// The part of a channel's life both engines share: requests accepted only while the command runs, close
/// resolving at once when already finished. The engine says where its close sequence stands and starts it.
package protocol ChannelLifecycle: EngineChannelState {
    /// Whether the command still runs (writes, EOF and close are accepted).
    var isRunning: Bool { get }
    /// Whether the channel is fully closed and freed.
    var isFinished: Bool { get }
    /// Starts the close sequence; `byUser` when the caller (not the remote EOF) closes.
    func beginClosing(byUser: Bool)
    /// Lets the owning connection make progress (after a request was queued).
    func driveConnection()
}

extension ChannelLifecycle {
    package func write(_ bytes: [UInt8], _ continuation: CheckedContinuation<Void, any Error>) {
        if core.enqueueWrite(bytes, continuation, open: isRunning) { driveConnection() }
    }

    package func requestEOF(_ continuation: CheckedContinuation<Void, any Error>) {
        if core.requestEOF(continuation, open: isRunning) { driveConnection() }
    }

    package func close(_ continuation: CheckedContinuation<Void, any Error>?) {
        if isFinished {
            continuation?.resume()
            return
        }
        core.addCloser(continuation)
        if isRunning { beginClosing(byUser: true) }
        driveConnection()
    }

    /// Closes and frees a channel nobody will use (a request during setup failed).
    package func discard() {
        beginClosing(byUser: true)
    }
}

/// The public face of either engine's channel: every call hops onto the loop that owns the native channel.
package final class EngineChannel<State: EngineChannelState>: SSHChannel {
    package let stdout: SSHByteStream
    package let stderr: SSHByteStream
    private let state: LoopBound<State>
    /// Keeps the session (and so the connection) open while the channel is in use.
    private let session: any SSHSession

    /// Wraps `state`, whose streams are `stdout` and `stderr`.
    package init(state: LoopBound<State>, stdout: ByteStreamBuffer, stderr: ByteStreamBuffer, session: any SSHSession) {
        self.state = state
        self.session = session
        self.stdout = SSHByteStream(stdout)
        self.stderr = SSHByteStream(stderr)
    }

    deinit {
        state.execute { $0.close(nil) }
    }

    package func write(_ bytes: [UInt8]) async throws {
        try await state.withContinuation { $0.write(bytes, $1) }
    }

    package func sendEOF() async throws {
        try await state.withContinuation { $0.requestEOF($1) }
    }

    package func sendSignal(_ name: String) async throws {
        let bare = name.hasPrefix("SIG") ? String(name.dropFirst(3)) : name
        guard !bare.isEmpty, bare.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw SSHError(.invalidArgument, host: session.options.host, port: session.options.port,
                           message: "\"\(name)\" is not a signal name (expected e.g. TERM, KILL, HUP)")
        }
        try await state.withContinuation { $0.sendSignal(bare, $1) }
    }

    package func exitStatus() async throws -> SSHExitStatus {
        let waiter = WaiterID()
        return try await withTaskCancellationHandler {
            try await state.withContinuation { state, continuation in
                if let id = state.core.waitForExit(continuation), waiter.register(id) { state.core.cancelExitWaiter(id) }
            }
        } onCancel: {
            if let id = waiter.cancel() { state.execute { $0.core.cancelExitWaiter(id) } }
        }
    }

    package func close() async {
        _ = try? await state.withContinuation { $0.close($1) }
    }
}
