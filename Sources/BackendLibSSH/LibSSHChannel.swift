import CLibSSH
import SSHBackend
import SSHEngineCore

/// libssh's calls for one channel, driven by the shared ``ChannelDriver`` (loop thread only).
///
/// libssh 0.10 reports an exit signal only through a callback, and its exit-status getter returns -1 both for
/// "none yet" and for errors, so the exit status, exit signal and remote close are all taken from callbacks,
/// installed before the channel opens (the data callback only notes that data arrived, leaving it buffered for
/// non-blocking reads).
final class LibSSHChannel: NativeChannel {
    private struct ExitSignal {
        let name: String
        let coreDumped: Bool
        let message: String?
    }

    /// The native channel, until freed.
    private(set) var handle: OpaquePointer?
    private unowned let connection: LibSSHConnection
    private var remoteClosed = false
    /// Whether the server confirmed the channel (its open succeeded). An unconfirmed channel has no number of the
    /// server's: closing it would send CLOSE to the server's channel 0, another command or tunnel.
    var confirmed = false
    /// Whether data arrived for stdout, stderr since their last read (set by the data callback).
    private var arrived = (stdout: false, stderr: false)
    private var exitCode: Int32?
    private var exitSignal: ExitSignal?
    private let callbacks: UnsafeMutablePointer<ssh_channel_callbacks_struct>

    init(handle: OpaquePointer, connection: LibSSHConnection) {
        self.handle = handle
        self.connection = connection
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: ssh_channel_callbacks_struct())
        clibssh_channel_callbacks_init(callbacks)
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_exit_status_function = { _, _, status, userdata in
            guard let userdata else { return }
            Unmanaged<LibSSHChannel>.fromOpaque(userdata).takeUnretainedValue().exitCode = status
        }
        callbacks.pointee.channel_exit_signal_function = { _, _, signal, core, message, _, userdata in
            guard let userdata else { return }
            let text = message.map { String(cString: $0) }
            Unmanaged<LibSSHChannel>.fromOpaque(userdata).takeUnretainedValue().exitSignal = ExitSignal(
                name: signal.map { String(cString: $0) } ?? "UNKNOWN", coreDumped: core != 0,
                message: text?.isEmpty == false ? text : nil)
        }
        callbacks.pointee.channel_data_function = { _, _, _, _, isStderr, userdata in
            // Noted only: returning 0 leaves the bytes in libssh's buffer for the non-blocking read.
            guard let userdata else { return 0 }
            let channel = Unmanaged<LibSSHChannel>.fromOpaque(userdata).takeUnretainedValue()
            if isStderr != 0 { channel.arrived.stderr = true } else { channel.arrived.stdout = true }
            return 0
        }
        callbacks.pointee.channel_close_function = { _, _, userdata in
            guard let userdata else { return }
            Unmanaged<LibSSHChannel>.fromOpaque(userdata).takeUnretainedValue().remoteClosed = true
        }
        ssh_set_channel_callbacks(handle, callbacks)
    }

    deinit {
        // No native call here: by now the channel was detached, or libssh freed it with its session.
        callbacks.deallocate()
    }

    /// The receive window the caller asked for, when larger than libssh's own (1.28 MB): reads of stdout keep it
    /// open (`ssh_channel_read_timeout` grows the window to what a read asks beyond the buffered bytes).
    var receiveWindow: UInt32?

    /// libssh 0.10's own window (`WINDOWBASE`), which it restores whenever less than half of it is left.
    private static let libraryWindow: UInt32 = 1_280_000

    /// Data arrived since the last read (the connection's transport pump runs the data callback).
    func hasBufferedInput(_ stream: ChannelStream) -> Bool {
        stream == .stdout ? arrived.stdout : arrived.stderr
    }

    /// Reads everything libssh holds for a stream in one call. libssh re-opens the window to 1.28 MB after every
    /// read whatever it still buffers, so reading in small pieces would let its buffer grow without bound; emptied
    /// at each read, it never holds more than one window.
    ///
    /// With a larger ``receiveWindow``, stdout is read with `ssh_channel_read_timeout` asking for the buffered bytes
    /// plus that window and a timeout of 0: libssh first tops the window up to it (one WINDOW_ADJUST), then, as
    /// data is already buffered, copies exactly the buffered bytes without touching the socket. libssh never holds
    /// more than that window.
    func read(_ stream: ChannelStream, scratch _: UnsafeMutableRawBufferPointer) throws(SSHError) -> [UInt8] {
        guard let handle else { return [] }
        if stream == .stdout { arrived.stdout = false } else { arrived.stderr = false }
        let id: Int32 = stream == .stdout ? 0 : 1
        let available = ssh_channel_poll(handle, id)
        if available == 0 || available == SSH_EOF { return [] }
        if available < 0 { throw connection.channelError("reading the channel failed") }
        let window =
            stream == .stdout && LibSSHLibrary.readGrowsWindow
            ? receiveWindow.flatMap { $0 > Self.libraryWindow ? $0 : nil } : nil
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: Int(available)) { buffer, count in
            let rc: Int32
            if let window {
                // libssh 0.10.6 copies min(buffered, asked) bytes: `available`, the buffer's size.
                rc = ssh_channel_read_timeout(handle, buffer.baseAddress, UInt32(available) &+ window, id, 0)
            } else {
                rc = ssh_channel_read_nonblocking(handle, buffer.baseAddress, UInt32(available), id)
            }
            failed = rc < 0 && rc != sshAgain && rc != SSH_EOF
            count = max(0, min(Int(rc), Int(available)))
        }
        if failed { throw connection.channelError("reading the channel failed") }
        return bytes
    }

    /// Never more than the remote window: libssh would queue the rest in memory without bound.
    func write(_ bytes: UnsafeRawBufferPointer) -> NativeOutcome {
        guard let handle else { return .failed(connection.error(.sessionClosed, "the channel was closed")) }
        let window = Int(ssh_channel_window_size(handle))
        if window == 0 { return .wouldBlock }
        let rc = ssh_channel_write(handle, bytes.baseAddress, UInt32(min(bytes.count, window)))
        if rc >= 0 { return .done(Int(rc)) }
        return .failed(connection.channelError("writing to stdin failed"))
    }

    func sendEOF() -> NativeOutcome {
        guard let handle, ssh_channel_send_eof(handle) != SSH_ERROR else {
            return .failed(connection.channelError("sending EOF failed"))
        }
        return .done(0)
    }

    var receivedEOF: Bool {
        guard let handle else { return true }
        return ssh_channel_is_eof(handle) != 0
    }

    /// Queues EOF and CLOSE (SSH_AGAIN only means the flush continues with the transport pump). A failure matters
    /// only when the transport is gone.
    func close() -> NativeStep {
        guard let handle else { return .done }
        if !confirmed && !receivedEOF {
            // The server refused the open (a channel it confirmed and closed at once has its EOF): nothing of the
            // server's to close, nothing to wait for; freeing it sends nothing.
            remoteClosed = true
            return .done
        }
        guard ssh_channel_close(handle) == SSH_ERROR, connection.transportLost else { return .done }
        return .failed(connection.channelError("closing the channel failed"))
    }

    func awaitClosed() -> NativeStep {
        remoteClosed ? .done : .wouldBlock
    }

    func exitStatus() -> Result<SSHExitStatus, SSHError> {
        if let exitSignal {
            return .success(
                SSHExitStatus(
                    code: nil, signal: exitSignal.name, coreDumped: exitSignal.coreDumped,
                    signalMessage: exitSignal.message))
        }
        if let exitCode { return .success(SSHExitStatus(code: exitCode)) }
        return .failure(connection.error(.protocolError, "the server closed the channel without an exit status"))
    }

    /// libssh finishes freeing the channel when the server's CLOSE arrives, or with the session.
    func free() -> NativeStep {
        detach()
        return .done
    }

    /// Removes the callbacks and frees the native channel.
    func detach() {
        guard let handle else { return }
        ssh_remove_channel_callbacks(handle, callbacks)
        ssh_channel_free(handle)
        self.handle = nil
    }

    func sendSignal(_ name: String) -> Result<Void, SSHError> {
        guard let handle, ssh_channel_request_send_signal(handle, name) != SSH_ERROR else {
            return .failure(connection.channelError("sending signal \(name) failed"))
        }
        return .success(())
    }
}
