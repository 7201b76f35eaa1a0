import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// The receive window of each channel (libssh2's default): how far the remote may run ahead of our reads.
let channelWindowSize: UInt32 = 2 * 1024 * 1024

/// Opens a session channel, sends env and PTY requests, then exec or shell.
final class LibSSH2OpenChannelOperation: EngineOperation {
    private enum Phase {
        case open
        case environment(index: Int)
        case pty
        case start
    }

    private let request: SSHChannelRequest
    private let environment: [(String, String)]
    private let completion: (Result<LibSSH2ChannelState, any Error>) -> Void
    private var phase: Phase = .open
    private var handle: OpaquePointer?
    let timeout: Duration
    let activity = "opening a channel"

    init(request: SSHChannelRequest, timeout: Duration,
         completion: @escaping (Result<LibSSH2ChannelState, any Error>) -> Void) {
        self.request = request
        self.environment = request.environment.sorted { $0.key < $1.key }
        self.timeout = timeout
        self.completion = completion
    }

    func fail(_ error: any Error) {
        completion(.failure(error))
    }

    func step(_ connection: LibSSH2Connection) -> Bool {
        guard let session = connection.session else {
            fail(connection.error(.sessionClosed, "the session is closed"))
            return true
        }
        while true {
            switch phase {
            case .open:
                guard let channel = clibssh2_channel_open_session(session, channelWindowSize) else {
                    let code = clibssh2_last_errno(session)
                    if code == LIBSSH2_ERROR_EAGAIN { return false }
                    return finish(connection, error: connection.channelError(Int(code), "the server refused to open a channel"))
                }
                handle = channel
                phase = .environment(index: 0)
            case .environment(let index):
                guard index < environment.count else {
                    phase = .pty
                    continue
                }
                let (name, value) = environment[index]
                let rc = libssh2_channel_setenv_ex(handle, name, UInt32(name.utf8.count), value, UInt32(value.utf8.count))
                if rc == LIBSSH2_ERROR_EAGAIN { return false }
                if rc != 0 {
                    return finish(connection, error: connection.channelError(
                        Int(rc), "the server refused environment variable \(name)"))
                }
                phase = .environment(index: index + 1)
            case .pty:
                if let pty = request.pty {
                    let rc = libssh2_channel_request_pty_ex(
                        handle, pty.term, UInt32(pty.term.utf8.count), nil, 0,
                        Int32(clamping: pty.columns), Int32(clamping: pty.rows), 0, 0)
                    if rc == LIBSSH2_ERROR_EAGAIN { return false }
                    if rc != 0 {
                        return finish(connection, error: connection.channelError(Int(rc), "the server refused a PTY"))
                    }
                }
                phase = .start
            case .start:
                let rc: Int32
                switch request.kind {
                case .exec(let command):
                    rc = clibssh2_channel_exec(handle, "exec", 4, command, UInt32(command.utf8.count))
                case .shell:
                    rc = clibssh2_channel_exec(handle, "shell", 5, nil, 0)
                case .subsystem(let name):
                    rc = clibssh2_channel_exec(handle, "subsystem", 9, name, UInt32(name.utf8.count))
                }
                if rc == LIBSSH2_ERROR_EAGAIN { return false }
                if rc != 0 {
                    let what = request.kind.description
                    return finish(connection, error: connection.channelError(Int(rc), "the server refused to start \(what)"))
                }
                let state = LibSSH2ChannelState(handle: handle!, connection: connection)
                handle = nil
                connection.add(state)
                completion(.success(state))
                return true
            }
        }
    }

    /// Fails the operation; a half-set-up channel is handed to the connection to be closed and freed.
    private func finish(_ connection: LibSSH2Connection, error: SSHError) -> Bool {
        if let handle, connection.failure == nil {
            let state = LibSSH2ChannelState(handle: handle, connection: connection)
            state.discard()
            connection.add(state)
        }
        handle = nil
        if error.code == .connectionLost {
            connection.fail(error)  // fails this operation too: it is still at the head of the queue
        } else {
            completion(.failure(error))
        }
        return true
    }
}
