import CLibSSH
import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// Opens a session channel, sends env and PTY requests, then exec or shell. The channel's callbacks are
/// installed before it opens, so an exit status or signal arriving with the exec reply is never missed.
final class LibSSHOpenChannelOperation: EngineOperation {
    private enum Phase {
        case open
        case environment(index: Int)
        case pty
        case start
    }

    private let request: SSHChannelRequest
    private let environment: [(String, String)]
    private let completion: (Result<LibSSHChannelState, any Error>) -> Void
    private var phase: Phase = .open
    private var state: LibSSHChannelState?
    let timeout: Duration
    let activity = "opening a channel"

    init(request: SSHChannelRequest, timeout: Duration,
         completion: @escaping (Result<LibSSHChannelState, any Error>) -> Void) {
        self.request = request
        self.environment = request.environment.sorted { $0.key < $1.key }
        self.timeout = timeout
        self.completion = completion
    }

    func fail(_ error: any Error) {
        completion(.failure(error))
    }

    func step(_ connection: LibSSHConnection) -> Bool {
        guard let session = connection.session else {
            fail(connection.error(.sessionClosed, "the session is closed"))
            return true
        }
        if state == nil {
            guard let handle = ssh_channel_new(session) else {
                return finish(connection, error: connection.channelError("libssh could not create a channel"))
            }
            state = LibSSHChannelState(handle: handle, connection: connection)
        }
        guard let state, let handle = state.handle else {
            return finish(connection, error: connection.error(.sessionClosed, "the channel was closed"))
        }
        while true {
            switch phase {
            case .open:
                let rc = ssh_channel_open_session(handle)
                if rc == sshAgain { return false }
                if rc != SSH_OK {
                    return finish(connection, error: connection.channelError("the server refused to open a channel"))
                }
                phase = .environment(index: 0)
            case .environment(let index):
                guard index < environment.count else {
                    phase = .pty
                    continue
                }
                let (name, value) = environment[index]
                let rc = ssh_channel_request_env(handle, name, value)
                if rc == sshAgain { return false }
                if rc != SSH_OK {
                    return finish(connection, error: connection.channelError("the server refused environment variable \(name)"))
                }
                phase = .environment(index: index + 1)
            case .pty:
                if let pty = request.pty {
                    let rc = ssh_channel_request_pty_size(handle, pty.term, Int32(clamping: pty.columns),
                                                          Int32(clamping: pty.rows))
                    if rc == sshAgain { return false }
                    if rc != SSH_OK {
                        return finish(connection, error: connection.channelError("the server refused a PTY"))
                    }
                }
                phase = .start
            case .start:
                let rc: Int32
                switch request.kind {
                case .exec(let command): rc = ssh_channel_request_exec(handle, command)
                case .shell: rc = ssh_channel_request_shell(handle)
                case .subsystem(let name): rc = ssh_channel_request_subsystem(handle, name)
                }
                if rc == sshAgain { return false }
                if rc != SSH_OK {
                    let what = request.kind.description
                    return finish(connection, error: connection.channelError("the server refused to start \(what)"))
                }
                self.state = nil
                connection.add(state)
                completion(.success(state))
                return true
            }
        }
    }

    /// Fails the operation; a half-set-up channel is handed to the connection to be closed and freed.
    private func finish(_ connection: LibSSHConnection, error: SSHError) -> Bool {
        if let state, connection.failure == nil {
            state.discard()
            connection.add(state)
        }
        state = nil
        if error.code == .connectionLost {
            connection.fail(error)  // fails this operation too: it is still at the head of the queue
        } else {
            completion(.failure(error))
        }
        return true
    }
}
