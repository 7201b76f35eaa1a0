import CLibSSH2
import SSHBackend
import SSHEngineCore

/// libssh2's calls for one open channel, driven by the shared ``ChannelDriver`` (loop thread only).
final class LibSSH2Channel: NativeChannel {
    /// The native channel.
    let handle: OpaquePointer
    private unowned let connection: LibSSH2Connection

    init(handle: OpaquePointer, connection: LibSSH2Connection) {
        self.handle = handle
        self.connection = connection
        connection.liveChannels.insert(handle)
    }

    /// Data for this channel in libssh2's packet queue (the stderr check also sees stdout data: libssh2 has no
    /// stderr-only test); the queue is filled by ``LibSSH2Connection/pumpTransport()``.
    func hasBufferedInput(_ stream: ChannelStream) -> Bool {
        libssh2_poll_channel_read(handle, stream == .stdout ? 0 : 1) != 0
    }

    func read(_ stream: ChannelStream, scratch: UnsafeMutableRawBufferPointer) throws(SSHError) -> [UInt8] {
        let id = stream == .stdout ? Int32(0) : Int32(SSH_EXTENDED_DATA_STDERR)
        let rc = libssh2_channel_read_ex(
            handle, id, scratch.baseAddress!.assumingMemoryBound(to: CChar.self), scratch.count)
        if rc > 0 { return Array(UnsafeRawBufferPointer(rebasing: scratch[0..<rc])) }
        if rc == 0 || rc == eagain { return [] }
        throw connection.channelError(rc, "reading the channel failed")
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> NativeOutcome {
        let rc = libssh2_channel_write_ex(
            handle, 0, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
        if rc >= 0 { return .done(rc) }
        if rc == eagain { return .wouldBlock }
        return .failed(connection.channelError(rc, "writing to stdin failed"))
    }

    func sendEOF() -> NativeOutcome {
        switch step(libssh2_channel_send_eof(handle), "sending EOF failed") {
        case .done: return .done(0)
        case .wouldBlock: return .wouldBlock
        case .failed(let error): return .failed(error)
        }
    }

    var receivedEOF: Bool { libssh2_channel_eof(handle) == 1 }

    func close() -> NativeStep {
        step(libssh2_channel_close(handle), "closing the channel failed")
    }

    func awaitClosed() -> NativeStep {
        step(libssh2_channel_wait_closed(handle), "waiting for the channel to close failed")
    }

    func exitStatus() -> Result<SSHExitStatus, SSHError> {
        let code = libssh2_channel_get_exit_status(handle)
        var message: UnsafeMutablePointer<CChar>?
        let signal = clibssh2_exit_signal(handle, &message)
        defer {
            if let signal { libssh2_free(connection.session, signal) }
            if let message { libssh2_free(connection.session, message) }
        }
        guard let signal else { return .success(SSHExitStatus(code: code)) }
        let text = message.map { String(cString: $0) }
        return .success(
            SSHExitStatus(
                code: nil, signal: String(cString: signal),
                signalMessage: text?.isEmpty == false ? text : nil))
    }

    func free() -> NativeStep {
        if libssh2_channel_free(handle) == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        connection.liveChannels.remove(handle)
        return .done
    }

    /// Nothing to do: libssh2 frees channels with their session.
    func detach() {}

    func sendSignal(_ name: String) -> Result<Void, SSHError> {
        .failure(
            connection.error(
                .unsupported,
                "libssh2 \(LibSSH2Library.version) cannot send signals to a remote command "
                    + "(libssh2 1.11 added it); close the channel instead, or use the libssh engine"))
    }

    /// A close-sequence call's result: only a dead transport is an error worth ending anything for.
    private func step(_ rc: Int32, _ message: String) -> NativeStep {
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        if rc != 0 { return .failed(connection.channelError(Int(rc), message)) }
        return .done
    }
}
