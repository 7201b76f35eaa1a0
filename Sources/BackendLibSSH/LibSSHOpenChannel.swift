import CLibSSH
import SSHBackend
import SSHEngineCore

/// libssh's calls for opening a channel, stepped by the shared ``OpenChannelOperation``. The native channel (and
/// so its callbacks) exists before the channel opens, so an exit status or signal arriving with the exec reply is
/// never missed.
final class LibSSHChannelOpener: NativeChannelOpener {
    private(set) var channel: LibSSHChannel?

    func forgetChannel() { channel = nil }

    /// libssh 0.10 opens every channel with its own window (1.28 MB); a larger `window` is kept by the channel's
    /// reads (``LibSSHChannel/receiveWindow``).
    func open(_ connection: LibSSHConnection, window: Int?) -> NativeStep {
        if let failure = makeChannel(connection) { return failure }
        channel?.receiveWindow = window.map { UInt32(clamping: $0) }
        return confirming(
            outcome({ ssh_channel_open_session($0) }, connection, "the server refused to open a channel"))
    }

    func openDirectTCPIP(host: String, port: Int, window: Int?, _ connection: LibSSHConnection) -> NativeStep {
        if let failure = makeChannel(connection) { return failure }
        channel?.receiveWindow = window.map { UInt32(clamping: $0) }
        return confirming(
            outcome(
                { ssh_channel_open_forward($0, host, Int32(port), "127.0.0.1", 22) }, connection,
                "the server refused a tunnel to \(host):\(port)"))
    }

    /// `step`, noting on the channel that the server confirmed it when it opened.
    private func confirming(_ step: NativeStep) -> NativeStep {
        if case .done = step { channel?.confirmed = true }
        return step
    }

    /// Creates the native channel on the first call (its callbacks exist before it opens); the failure, if any.
    private func makeChannel(_ connection: LibSSHConnection) -> NativeStep? {
        guard channel == nil else { return nil }
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        guard let handle = ssh_channel_new(session) else {
            return .failed(connection.channelError("libssh could not create a channel"))
        }
        channel = LibSSHChannel(handle: handle, connection: connection)
        return nil
    }

    func setEnvironment(_ name: String, _ value: String, _ connection: LibSSHConnection) -> NativeStep {
        outcome(
            { ssh_channel_request_env($0, name, value) }, connection, "the server refused environment variable \(name)")
    }

    func requestPTY(_ pty: SSHPTYRequest, _ connection: LibSSHConnection) -> NativeStep {
        outcome(
            { ssh_channel_request_pty_size($0, pty.term, Int32(clamping: pty.columns), Int32(clamping: pty.rows)) },
            connection, "the server refused a PTY")
    }

    func requestAgentForwarding(_ connection: LibSSHConnection) -> NativeStep {
        outcome({ ssh_channel_request_auth_agent($0) }, connection, "the server refused agent forwarding")
    }

    func start(_ kind: SSHChannelRequest.Kind, _ connection: LibSSHConnection) -> NativeStep {
        outcome(
            { handle in
                switch kind {
                case .exec(let command): ssh_channel_request_exec(handle, command)
                case .execBytes(let bytes):
                    (bytes + [0]).withUnsafeBufferPointer { raw in
                        raw.withMemoryRebound(to: CChar.self) { ssh_channel_request_exec(handle, $0.baseAddress) }
                    }
                case .shell: ssh_channel_request_shell(handle)
                case .subsystem(let name): ssh_channel_request_subsystem(handle, name)
                case .directTCPIP: SSH_ERROR  // opened by openDirectTCPIP, never started
                }
            }, connection, "the server refused to start \(kind)")
    }

    private func outcome(_ call: (OpaquePointer) -> Int32, _ connection: LibSSHConnection, _ message: String)
        -> NativeStep
    {
        guard let handle = channel?.handle else {
            return .failed(connection.error(.sessionClosed, "the channel was closed"))
        }
        let rc = call(handle)
        if rc == sshAgain { return .wouldBlock }
        if rc != SSH_OK { return .failed(connection.channelError(message)) }
        return .done
    }
}
