import CLibSSH2
import SSHBackend
import SSHEngineCore

/// The receive window of each channel (libssh2's default): how far the remote may run ahead of our reads.
let channelWindowSize: UInt32 = 2 * 1024 * 1024

/// libssh2's calls for opening a channel, stepped by the shared ``OpenChannelOperation``.
final class LibSSH2ChannelOpener: NativeChannelOpener {
    private(set) var channel: LibSSH2Channel?

    func forgetChannel() { channel = nil }

    func open(_ connection: LibSSH2Connection, window: Int?) -> NativeStep {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        // libssh2 keeps the window at this size as the channel is read (it adjusts back up to the initial size).
        let size = window.map { UInt32(clamping: max($0, 32 * 1024)) } ?? channelWindowSize
        guard let handle = clibssh2_channel_open_session(session, size) else {
            let code = clibssh2_last_errno(session)
            if code == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
            return .failed(connection.channelError(Int(code), "the server refused to open a channel"))
        }
        channel = LibSSH2Channel(handle: handle, connection: connection)
        return .done
    }

    /// Opens the tunnel through `libssh2_channel_open_ex`, whose window the caller sizes (libssh2's own
    /// `libssh2_channel_direct_tcpip_ex` always opens with its default 2 MiB); libssh2 keeps the window at that size
    /// as the channel is read.
    func openDirectTCPIP(host: String, port: Int, window: Int?, _ connection: LibSSH2Connection) -> NativeStep {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        let message = Self.tunnelRequest(host: host, port: port)
        let size = window.map { UInt32(clamping: max($0, 32 * 1024)) } ?? channelWindowSize
        let opened = message.withUnsafeBufferPointer {
            $0.withMemoryRebound(to: CChar.self) {
                clibssh2_channel_open_tunnel(session, $0.baseAddress, UInt32($0.count), size)
            }
        }
        guard let handle = opened else {
            let code = clibssh2_last_errno(session)
            if code == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
            return .failed(connection.channelError(Int(code), "the server refused a tunnel to \(host):\(port)"))
        }
        channel = LibSSH2Channel(handle: handle, connection: connection)
        return .done
    }

    /// The type-specific part of a `direct-tcpip` open (RFC 4254, 7.2): the host and port to reach, then the
    /// originator's address and port (as libssh2's own call sends them: 127.0.0.1, 22).
    static func tunnelRequest(host: String, port: Int) -> [UInt8] {
        func string(_ text: String) -> [UInt8] { uint32(text.utf8.count) + Array(text.utf8) }
        func uint32(_ value: Int) -> [UInt8] {
            let value = UInt32(truncatingIfNeeded: value)
            return [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
        }
        return string(host) + uint32(port) + string("127.0.0.1") + uint32(22)
    }

    func setEnvironment(_ name: String, _ value: String, _ connection: LibSSH2Connection) -> NativeStep {
        outcome(
            { libssh2_channel_setenv_ex($0, name, UInt32(name.utf8.count), value, UInt32(value.utf8.count)) },
            connection, "the server refused environment variable \(name)")
    }

    /// Never sent: libssh2 1.10 frees the `auth-agent@openssh.com` channel the server would open, without a reply,
    /// so the remote client would hang. The channel goes on without the agent (``SSHRefusedRequests``).
    func requestAgentForwarding(_ connection: LibSSH2Connection) -> NativeStep {
        .failed(
            connection.error(
                .channelFailure,
                "not supported: libssh2 \(LibSSH2Library.version) cannot carry a forwarded agent; use the libssh engine"
            ))
    }

    func requestPTY(_ pty: SSHPTYRequest, _ connection: LibSSH2Connection) -> NativeStep {
        outcome(
            {
                libssh2_channel_request_pty_ex(
                    $0, pty.term, UInt32(pty.term.utf8.count), nil, 0,
                    Int32(clamping: pty.columns), Int32(clamping: pty.rows), 0, 0)
            },
            connection, "the server refused a PTY")
    }

    func start(_ kind: SSHChannelRequest.Kind, _ connection: LibSSH2Connection) -> NativeStep {
        outcome(
            { handle in
                switch kind {
                case .exec(let command): clibssh2_channel_exec(handle, "exec", 4, command, UInt32(command.utf8.count))
                case .execBytes(let bytes):
                    bytes.withUnsafeBufferPointer { raw in
                        raw.withMemoryRebound(to: CChar.self) {
                            clibssh2_channel_exec(handle, "exec", 4, $0.baseAddress, UInt32(bytes.count))
                        }
                    }
                case .shell: clibssh2_channel_exec(handle, "shell", 5, nil, 0)
                case .subsystem(let name): clibssh2_channel_exec(handle, "subsystem", 9, name, UInt32(name.utf8.count))
                case .directTCPIP: LIBSSH2_ERROR_INVAL  // opened by openDirectTCPIP, never started
                }
            }, connection, "the server refused to start \(kind)")
    }

    private func outcome(_ call: (OpaquePointer) -> Int32, _ connection: LibSSH2Connection, _ message: String)
        -> NativeStep
    {
        guard let handle = channel?.handle else {
            return .failed(connection.error(.sessionClosed, "the channel was closed"))
        }
        let rc = call(handle)
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        if rc != 0 { return .failed(connection.channelError(Int(rc), message)) }
        return .done
    }
}
