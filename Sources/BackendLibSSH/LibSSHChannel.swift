import CLibSSH
import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// The loop-confined state of one libssh channel: its native handle, close sequence and callbacks around the
/// shared ``ChannelCore``. ``pump()`` advances it; the connection calls that on every drive.
///
/// libssh 0.10 reports an exit signal only through a callback, and its exit-status getter returns -1 both for
/// "none yet" and for errors, so the exit status, exit signal and remote close are all taken from callbacks
/// (installed before the channel opens; the data callback stays unset so output buffers for non-blocking reads).
final class LibSSHChannelState: ChannelLifecycle, PumpedChannel {
    private enum Phase {
        case running
        case closing
        case waitingClosed
        case freeing
        case finished
    }

    private struct ExitSignal {
        let name: String
        let coreDumped: Bool
        let message: String?
    }

    /// The native channel, until freed.
    private(set) var handle: OpaquePointer?
    private unowned let connection: LibSSHConnection
    let core: ChannelCore
    private var phase = Phase.running
    private var sawRemoteEOF = false
    private var remoteClosed = false
    private var exitCode: Int32?
    private var exitSignal: ExitSignal?
    private let callbacks: UnsafeMutablePointer<ssh_channel_callbacks_struct>

    init(handle: OpaquePointer, connection: LibSSHConnection) {
        self.handle = handle
        self.connection = connection
        let bound = LoopBound(connection, loop: connection.loop)
        core = ChannelCore(capacity: connection.streamCapacity, host: connection.options.host,
                           port: connection.options.port, onDemand: { bound.execute { $0.drive() } })
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: ssh_channel_callbacks_struct())
        clibssh_channel_callbacks_init(callbacks)
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_exit_status_function = { _, _, status, userdata in
            guard let userdata else { return }
            Unmanaged<LibSSHChannelState>.fromOpaque(userdata).takeUnretainedValue().exitCode = status
        }
        callbacks.pointee.channel_exit_signal_function = { _, _, signal, core, message, _, userdata in
            guard let userdata else { return }
            let text = message.map { String(cString: $0) }
            Unmanaged<LibSSHChannelState>.fromOpaque(userdata).takeUnretainedValue().exitSignal = ExitSignal(
                name: signal.map { String(cString: $0) } ?? "UNKNOWN", coreDumped: core != 0,
                message: text?.isEmpty == false ? text : nil)
        }
        callbacks.pointee.channel_close_function = { _, _, userdata in
            guard let userdata else { return }
            Unmanaged<LibSSHChannelState>.fromOpaque(userdata).takeUnretainedValue().remoteClosed = true
        }
        ssh_set_channel_callbacks(handle, callbacks)
    }

    deinit {
        // No native call here: by now the channel was detached, or libssh freed it with its session.
        callbacks.deallocate()
    }

    /// Whether the channel is fully closed and freed (the connection then forgets it).
    var isFinished: Bool { phase == .finished }

    // MARK: Requests (loop thread)

    func sendSignal(_ name: String, _ continuation: CheckedContinuation<Void, any Error>) {
        guard phase == .running, let handle else {
            continuation.resume(throwing: core.error(.sessionClosed, "cannot send a signal: the channel ended"))
            return
        }
        if ssh_channel_request_send_signal(handle, name) == SSH_ERROR {
            let error = connection.channelError("sending signal \(name) failed")
            continuation.resume(throwing: error)
            if error.code == .connectionLost { connection.fail(error) }
            return
        }
        continuation.resume()
        connection.drive()
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

    /// Advances writes, reads, EOF and close as far as libssh allows. Returns whether anything progressed.
    func pump() -> Bool {
        guard let handle else {
            phase = .finished
            return false
        }
        var progress = false
        if phase == .running {
            do {
                if try pumpWrites(handle) { progress = true }
                if try pumpReads(handle) { progress = true }
            } catch {
                return fail(error)
            }
            if phase == .running && ssh_channel_is_eof(handle) != 0 {
                // Both streams are drained and the remote sent EOF.
                sawRemoteEOF = true
                beginClosing(byUser: false)
                progress = true
            }
        }
        if phase == .closing {
            // Queues EOF and CLOSE (SSH_AGAIN only means the flush continues with the transport pump).
            if ssh_channel_close(handle) == SSH_ERROR && connection.transportLost {
                connection.fail(connection.channelError("closing the channel failed"))
                return false
            }
            if !sawRemoteEOF {
                // Closed by the user while the command runs: the server answers only when the command lets go of
                // its output, so callers of close() do not wait for that; libssh frees the channel when it does.
                core.resumeClosers()
            }
            phase = sawRemoteEOF ? .waitingClosed : .freeing
            progress = true
        }
        if phase == .waitingClosed {
            guard remoteClosed else { return progress }
            collectExit(handle)
            phase = .freeing
            progress = true
        }
        if phase == .freeing {
            detach()
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

    private func pumpWrites(_ handle: OpaquePointer) throws(SSHError) -> Bool {
        try core.pumpWrites(limit: 256 * 1024) { bytes in
            // Never more than the remote window: libssh would queue the rest in memory without bound.
            let window = Int(ssh_channel_window_size(handle))
            if window == 0 { return .wouldBlock }
            let rc = ssh_channel_write(handle, bytes.baseAddress, UInt32(min(bytes.count, window)))
            if rc >= 0 { return .done(Int(rc)) }
            return .failed(connection.channelError("writing to stdin failed"))
        } sendEOF: {
            if ssh_channel_send_eof(handle) == SSH_ERROR {
                return .failed(connection.channelError("sending EOF failed"))
            }
            return .done(0)
        }
    }

    /// Reads everything libssh holds for a stream in one call. libssh re-opens the window to 1.28 MB after every
    /// read whatever it still buffers, so reading in small pieces would let its buffer grow without bound; emptied
    /// at each read, it never holds more than one window.
    private func pumpReads(_ handle: OpaquePointer) throws(SSHError) -> Bool {
        try core.pumpReads(force: false) { (stream) throws(SSHError) -> [UInt8] in
            let available = ssh_channel_poll(handle, Int32(stream))
            if available == 0 || available == SSH_EOF { return [] }
            if available < 0 { throw connection.channelError("reading the channel failed") }
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: Int(available)) { buffer, count in
                let rc = ssh_channel_read_nonblocking(handle, buffer.baseAddress, UInt32(available), Int32(stream))
                failed = rc < 0 && rc != sshAgain && rc != SSH_EOF
                count = max(0, Int(rc))
            }
            if failed { throw connection.channelError("reading the channel failed") }
            return bytes
        }
    }

    private func collectExit(_ handle: OpaquePointer) {
        if core.exit != nil { return }
        if let exitSignal {
            core.exit = .success(SSHExitStatus(code: nil, signal: exitSignal.name, coreDumped: exitSignal.coreDumped,
                                               signalMessage: exitSignal.message))
        } else if let exitCode {
            core.exit = .success(SSHExitStatus(code: exitCode))
        } else {
            core.exit = .failure(core.error(.protocolError, "the server closed the channel without an exit status"))
        }
    }

    /// Removes the callbacks and frees the native channel (libssh finishes freeing it when the server's CLOSE
    /// arrives, or with the session).
    func detach() {
        guard let handle else { return }
        ssh_remove_channel_callbacks(handle, callbacks)
        ssh_channel_free(handle)
        self.handle = nil
    }

    /// Resolves every waiter; `error` is the connection's failure, if that is why the channel ends.
    private func finish(_ error: SSHError?) {
        phase = .finished
        handle = nil
        core.finish(error)
    }

    /// The connection failed or was closed (the channel was detached first).
    func connectionFailed(_ error: SSHError) {
        finish(error)
    }
}
