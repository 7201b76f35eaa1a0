import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// The loop-confined state of one open libssh2 channel: its native handle and close sequence around the shared
/// ``ChannelCore``. ``pump(_:)`` advances it; the connection calls that on every drive.
final class LibSSH2ChannelState: ChannelLifecycle, PumpedChannel {
    private enum Phase {
        case running
        case closing
        case waitingClosed
        case freeing
        case finished
    }

    private var handle: OpaquePointer?
    private unowned let connection: LibSSH2Connection
    let core: ChannelCore
    private var phase = Phase.running
    private var sawRemoteEOF = false

    init(handle: OpaquePointer, connection: LibSSH2Connection) {
        self.handle = handle
        self.connection = connection
        let bound = LoopBound(connection, loop: connection.loop)
        core = ChannelCore(capacity: connection.streamCapacity, host: connection.options.host,
                           port: connection.options.port, onDemand: { bound.execute { $0.drive() } })
    }

    /// Whether the channel is fully closed and freed (the connection then forgets it).
    var isFinished: Bool { phase == .finished }

    // MARK: Requests (loop thread)

    func sendSignal(_ name: String, _ continuation: CheckedContinuation<Void, any Error>) {
        continuation.resume(throwing: core.error(
            .unsupported, "libssh2 \(LibSSH2Library.version) cannot send signals to a remote command "
                + "(libssh2 1.11 added it); close the channel instead, or use the libssh engine"))
    }

    var isRunning: Bool { phase == .running }

    func driveConnection() {
        connection.drive()
    }

    func beginClosing(byUser: Bool) {
        phase = .closing
        core.beginClosing(byUser: byUser)
    }

    // MARK: Pumping (loop thread)

    /// Advances writes, reads, EOF and close as far as libssh2 allows. Returns whether anything progressed.
    func pump() -> Bool {
        guard let handle else {
            phase = .finished
            return false
        }
        var progress = false
        if phase == .running {
            do {
                if try pumpWrites(handle) { progress = true }
                if try pumpReads(handle, force: false) { progress = true }
            } catch {
                return fail(error)
            }
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
                core.resumeClosers()
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

    /// A read or write failed: a lost transport ends the connection, anything else this channel.
    private func fail(_ error: SSHError) -> Bool {
        if error.code == .connectionLost {
            connection.fail(error)
            return false
        }
        phase = .closing
        return true
    }

    /// After the peer hung up: read even streams paused by backpressure, so the transport error surfaces.
    func readEvenIfPaused() {
        guard phase == .running, let handle else { return }
        do { _ = try pumpReads(handle, force: true) } catch { _ = fail(error) }
    }

    private func pumpWrites(_ handle: OpaquePointer) throws(SSHError) -> Bool {
        try core.pumpWrites(limit: 256 * 1024) { bytes in
            let rc = libssh2_channel_write_ex(handle, 0, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
            if rc >= 0 { return .done(rc) }
            if rc == eagain { return .wouldBlock }
            return .failed(connection.channelError(rc, "writing to stdin failed"))
        } sendEOF: {
            let rc = libssh2_channel_send_eof(handle)
            if rc == 0 { return .done(0) }
            if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
            return .failed(connection.channelError(Int(rc), "sending EOF failed"))
        }
    }

    private func pumpReads(_ handle: OpaquePointer, force: Bool) throws(SSHError) -> Bool {
        let scratch = connection.loop.scratch
        return try core.pumpReads(force: force) { (stream) throws(SSHError) -> [UInt8] in
            let streamID = stream == 0 ? Int32(0) : Int32(SSH_EXTENDED_DATA_STDERR)
            let rc = libssh2_channel_read_ex(
                handle, streamID, scratch.baseAddress!.assumingMemoryBound(to: CChar.self), scratch.count)
            if rc > 0 { return Array(UnsafeRawBufferPointer(rebasing: scratch[0..<rc])) }
            if rc == 0 || rc == eagain { return [] }
            throw connection.channelError(rc, "reading the channel failed")
        }
    }

    private func collectExit(_ handle: OpaquePointer) {
        if core.exit != nil { return }
        let code = libssh2_channel_get_exit_status(handle)
        var message: UnsafeMutablePointer<CChar>?
        if let signal = clibssh2_exit_signal(handle, &message) {
            let name = String(cString: signal)
            let text = message.map { String(cString: $0) }
            libssh2_free(connection.session, signal)
            if let message { libssh2_free(connection.session, message) }
            core.exit = .success(SSHExitStatus(code: nil, signal: name, signalMessage: text?.isEmpty == false ? text : nil))
        } else {
            if let message { libssh2_free(connection.session, message) }
            core.exit = .success(SSHExitStatus(code: code))
        }
    }

    /// Resolves every waiter; `error` is the connection's failure, if that is why the channel ends.
    private func finish(_ error: SSHError?) {
        phase = .finished
        handle = nil
        core.finish(error)
    }

    /// Nothing to do: libssh2 frees channels with their session.
    func detach() {}

    /// The connection failed or was closed: libssh2 freed the handle with the session.
    func connectionFailed(_ error: SSHError) {
        finish(error)
    }
}
