import CLibSSH2
import SSHBackend
import SSHEventLoop

/// The loop-confined state of one open libssh2 channel: its native handle, output buffers, pending stdin writes
/// and the waiters for EOF, exit and close. ``pump(_:)`` advances it; the connection calls that on every drive.
final class LibSSH2ChannelState {
    private enum Phase {
        case running
        case closing
        case waitingClosed
        case freeing
        case finished
    }

    private struct PendingWrite {
        let bytes: [UInt8]
        var offset: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private enum EOFState {
        case none
        case requested
        case sent
    }

    private var handle: OpaquePointer?
    private unowned let connection: LibSSH2Connection
    let stdout: ByteStreamBuffer
    let stderr: ByteStreamBuffer
    private var phase = Phase.running
    private var sawRemoteEOF = false
    private var writes: [PendingWrite] = []
    private var eofState = EOFState.none
    private var eofWaiters: [CheckedContinuation<Void, any Error>] = []
    private var exit: Result<SSHExitStatus, SSHError>?
    private var exitWaiters: [UInt64: CheckedContinuation<SSHExitStatus, any Error>] = [:]
    private var nextWaiter: UInt64 = 0
    private var closeWaiters: [CheckedContinuation<Void, any Error>] = []

    init(handle: OpaquePointer, connection: LibSSH2Connection) {
        self.handle = handle
        self.connection = connection
        let bound = LoopBound(connection, loop: connection.loop)
        let demand: @Sendable () -> Void = { bound.execute { $0.drive() } }
        stdout = ByteStreamBuffer(capacity: connection.streamCapacity, onDemand: demand)
        stderr = ByteStreamBuffer(capacity: connection.streamCapacity, onDemand: demand)
    }

    /// Whether the channel is fully closed and freed (the connection then forgets it).
    var isFinished: Bool { phase == .finished }

    // MARK: Requests (loop thread)

    func enqueueWrite(_ bytes: [UInt8], _ continuation: CheckedContinuation<Void, any Error>) {
        guard phase == .running, eofState == .none else {
            continuation.resume(throwing: connection.error(.sessionClosed, "cannot write: stdin was closed (EOF sent) or the channel ended"))
            return
        }
        if bytes.isEmpty {
            continuation.resume()
            return
        }
        writes.append(PendingWrite(bytes: bytes, offset: 0, continuation: continuation))
        connection.drive()
    }

    func requestEOF(_ continuation: CheckedContinuation<Void, any Error>) {
        switch (eofState, phase) {
        case (.sent, _), (_, .closing), (_, .waitingClosed), (_, .freeing), (_, .finished):
            continuation.resume()
        default:
            eofState = .requested
            eofWaiters.append(continuation)
            connection.drive()
        }
    }

    func waitForExit(_ continuation: CheckedContinuation<SSHExitStatus, any Error>) -> UInt64? {
        if let exit {
            continuation.resume(with: exit)
            return nil
        }
        nextWaiter += 1
        exitWaiters[nextWaiter] = continuation
        return nextWaiter
    }

    func cancelExitWaiter(_ id: UInt64) {
        exitWaiters.removeValue(forKey: id)?.resume(throwing: CancellationError())
    }

    func close(_ continuation: CheckedContinuation<Void, any Error>?) {
        if phase == .finished {
            continuation?.resume()
            return
        }
        if let continuation { closeWaiters.append(continuation) }
        if phase == .running { beginClosing(byUser: true) }
        connection.drive()
    }

    /// Closes and frees a channel nobody will use (a request during setup failed).
    func discard() {
        beginClosing(byUser: true)
    }

    private func beginClosing(byUser: Bool) {
        phase = .closing
        stdout.finish()
        stderr.finish()
        if byUser {
            failWrites(connection.error(.sessionClosed, "the channel was closed"))
        }
    }

    // MARK: Pumping (loop thread)

    /// Advances writes, reads, EOF and close as far as libssh2 allows. Returns whether anything progressed.
    func pump(_ connection: LibSSH2Connection) -> Bool {
        guard let handle else {
            phase = .finished
            return false
        }
        var progress = false
        if phase == .running {
            if pumpWrites(handle) { progress = true }
            if connection.failure != nil { return false }
            if pumpReads(handle, force: false) { progress = true }
            if connection.failure != nil { return false }
            if phase == .running && libssh2_channel_eof(handle) == 1 {
                // Both streams are drained and the remote sent EOF.
                sawRemoteEOF = true
                beginClosing(byUser: false)
                progress = true
            }
        }
        if phase == .closing {
            let rc = libssh2_channel_close(handle)
            if !sawRemoteEOF {
                // Closed by the user while the command runs: our CLOSE is on its way. The server answers only when
                // the command lets go of its output, which may be much later, so callers of close() do not wait
                // for that; the channel finishes in the background.
                resumeClosers()
            }
            if rc == LIBSSH2_ERROR_EAGAIN { return progress }
            if rc != 0 && isTransportError(rc) {
                connection.fail(connection.channelError(Int(rc), "closing the channel failed"))
                return false
            }
            phase = sawRemoteEOF ? .waitingClosed : .freeing
            progress = true
        }
        if phase == .waitingClosed {
            let rc = libssh2_channel_wait_closed(handle)
            if rc == LIBSSH2_ERROR_EAGAIN { return progress }
            if rc != 0 && isTransportError(rc) {
                connection.fail(connection.channelError(Int(rc), "waiting for the channel to close failed"))
                return false
            }
            collectExit(handle)
            phase = .freeing
            progress = true
        }
        if phase == .freeing {
            let rc = libssh2_channel_free(handle)
            if rc == LIBSSH2_ERROR_EAGAIN { return progress }
            self.handle = nil
            finish(nil)
            progress = true
        }
        return progress
    }

    /// After the peer hung up: read even streams paused by backpressure, so the transport error surfaces.
    func readEvenIfPaused(_ connection: LibSSH2Connection) {
        guard phase == .running, let handle else { return }
        _ = pumpReads(handle, force: true)
    }

    private func pumpWrites(_ handle: OpaquePointer) -> Bool {
        var progress = false
        while !writes.isEmpty {
            let offset = writes[0].offset
            let remaining = writes[0].bytes.count - offset
            let rc = writes[0].bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    libssh2_channel_write_ex(handle, 0, $0.baseAddress! + offset, min(remaining, 256 * 1024))
                }
            }
            if rc > 0 {
                progress = true
                writes[0].offset += rc
                if writes[0].offset == writes[0].bytes.count { writes.removeFirst().continuation.resume() }
                continue
            }
            if rc == eagain || rc == 0 { break }
            let error = connection.channelError(rc, "writing to stdin failed")
            if error.code == .connectionLost {
                connection.fail(error)
                return false
            }
            failWrites(error)
            return true
        }
        if writes.isEmpty && eofState == .requested {
            let rc = libssh2_channel_send_eof(handle)
            if rc != LIBSSH2_ERROR_EAGAIN {
                let error = rc == 0 ? nil : connection.channelError(Int(rc), "sending EOF failed")
                if error?.code == .connectionLost {
                    connection.fail(error!)
                    return false
                }
                eofState = .sent
                let waiters = eofWaiters
                eofWaiters.removeAll()
                for waiter in waiters {
                    if let error { waiter.resume(throwing: error) } else { waiter.resume() }
                }
                progress = true
            }
        }
        return progress
    }

    private func pumpReads(_ handle: OpaquePointer, force: Bool) -> Bool {
        var progress = false
        let scratch = connection.loop.scratch
        for (streamID, buffer) in [(Int32(0), stdout), (Int32(SSH_EXTENDED_DATA_STDERR), stderr)] {
            while force ? !buffer.isFinished : buffer.hasRoom {
                let rc = libssh2_channel_read_ex(
                    handle, streamID, scratch.baseAddress!.assumingMemoryBound(to: CChar.self), scratch.count)
                if rc > 0 {
                    buffer.append(Array(UnsafeRawBufferPointer(rebasing: scratch[0..<rc])))
                    progress = true
                    continue
                }
                if rc == eagain || rc == 0 { break }
                let error = connection.channelError(rc, "reading the channel failed")
                if error.code == .connectionLost {
                    connection.fail(error)
                    return false
                }
                stdout.finish(throwing: error)
                stderr.finish(throwing: error)
                exit = .failure(error)
                phase = .closing
                return true
            }
        }
        return progress
    }

    private func collectExit(_ handle: OpaquePointer) {
        if exit != nil { return }
        let code = libssh2_channel_get_exit_status(handle)
        var message: UnsafeMutablePointer<CChar>?
        if let signal = clibssh2_exit_signal(handle, &message) {
            let name = String(cString: signal)
            let text = message.map { String(cString: $0) }
            libssh2_free(connection.session, signal)
            if let message { libssh2_free(connection.session, message) }
            exit = .success(SSHExitStatus(code: nil, signal: name, signalMessage: text?.isEmpty == false ? text : nil))
        } else {
            if let message { libssh2_free(connection.session, message) }
            exit = .success(SSHExitStatus(code: code))
        }
    }

    private func failWrites(_ error: SSHError) {
        let pending = writes
        writes.removeAll()
        for write in pending { write.continuation.resume(throwing: error) }
        let waiters = eofWaiters
        eofWaiters.removeAll()
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Resolves every waiter; `error` is the connection's failure, if that is why the channel ends.
    private func finish(_ error: SSHError?) {
        phase = .finished
        handle = nil
        if let error {
            stdout.finish(throwing: error)
            stderr.finish(throwing: error)
            failWrites(error)
        }
        if exit == nil {
            exit = .failure(error ?? connection.error(.sessionClosed, "the channel was closed before the command ended"))
        }
        let waiters = exitWaiters
        exitWaiters.removeAll()
        for waiter in waiters.values { waiter.resume(with: exit!) }
        resumeClosers()
    }

    private func resumeClosers() {
        let closers = closeWaiters
        closeWaiters.removeAll()
        for closer in closers { closer.resume() }
    }

    /// The connection failed or was closed: libssh2 freed the handle with the session.
    func connectionFailed(_ error: SSHError) {
        finish(error)
    }
}

/// The public face of a channel: hops each call onto the owning loop.
final class LibSSH2Channel: SSHChannel {
    let stdout: SSHByteStream
    let stderr: SSHByteStream
    private let state: LoopBound<LibSSH2ChannelState>
    private let session: LibSSH2Session

    init(state: LoopBound<LibSSH2ChannelState>, stdout: ByteStreamBuffer, stderr: ByteStreamBuffer,
         session: LibSSH2Session) {
        self.state = state
        self.session = session
        self.stdout = SSHByteStream(stdout)
        self.stderr = SSHByteStream(stderr)
    }

    deinit {
        state.execute { $0.close(nil) }
    }

    func write(_ bytes: [UInt8]) async throws {
        try await state.withContinuation { $0.enqueueWrite(bytes, $1) }
    }

    func sendEOF() async throws {
        try await state.withContinuation { $0.requestEOF($1) }
    }

    func sendSignal(_ name: String) async throws {
        throw SSHError(.unsupported, host: session.options.host, port: session.options.port,
                       message: "libssh2 \(LibSSH2Library.version) cannot send signals to a remote command "
                           + "(libssh2 1.11 added it); close the channel instead, or use the libssh engine")
    }

    func exitStatus() async throws -> SSHExitStatus {
        let waiter = WaiterID()
        return try await withTaskCancellationHandler {
            try await state.withContinuation { state, continuation in
                if let id = state.waitForExit(continuation), waiter.register(id) { state.cancelExitWaiter(id) }
            }
        } onCancel: {
            if let id = waiter.cancel() { state.execute { $0.cancelExitWaiter(id) } }
        }
    }

    func close() async {
        _ = try? await state.withContinuation { $0.close($1) }
    }
}

