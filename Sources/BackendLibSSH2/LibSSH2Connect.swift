import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop

#if canImport(Glibc)
import Glibc
#endif

/// TCP connect (each resolved address in turn, under the connect timeout), SSH handshake and authentication
/// (each under the operation timeout), as one operation at the head of a new connection's queue.
final class LibSSH2ConnectOperation: EngineOperation {
    private enum Phase {
        case tcp
        case handshake
        case authenticate(LibSSH2Authenticator)
    }

    private var dialer: TCPDialer
    private let continuation: CheckedContinuation<Void, any Error>
    private var phase: Phase = .tcp
    let timeout: Duration
    var activity: String

    init(addresses: [SocketAddress], options: SSHConnectionOptions, continuation: CheckedContinuation<Void, any Error>) {
        self.dialer = TCPDialer(addresses: addresses, host: options.host, port: options.port)
        self.continuation = continuation
        self.timeout = options.connectTimeout
        self.activity = "connecting to \(options.host):\(options.port)"
    }

    func fail(_ error: any Error) { continuation.resume(throwing: error) }

    func step(_ connection: LibSSH2Connection) -> Bool {
        while true {
            switch phase {
            case .tcp:
                switch dialer.step(connection.socket, handler: connection) {
                case .wouldBlock: return false
                case .failed(let error):
                    connection.fail(error)
                    return true
                case .connected: break
                }
                phase = .handshake
                connection.restartDeadline(
                    connection.options.operationTimeout,
                    activity: "the SSH handshake with \(connection.options.host):\(connection.options.port)")
            case .handshake:
                let session: OpaquePointer
                do { session = try connection.makeSession() } catch {
                    connection.fail(error)
                    return true
                }
                let rc = libssh2_session_handshake(session, connection.socket.fd)
                if rc == LIBSSH2_ERROR_EAGAIN { return false }
                if rc != 0 {
                    connection.fail(connection.nativeError(
                        .handshakeFailed,
                        "the SSH handshake with \(connection.options.host):\(connection.options.port) failed"))
                    return true
                }
                phase = .authenticate(LibSSH2Authenticator(options: connection.options))
                connection.restartDeadline(
                    connection.options.operationTimeout,
                    activity: "authenticating to \(connection.options.host):\(connection.options.port)")
            case .authenticate(let authenticator):
                switch authenticator.step(connection) {
                case .wouldBlock:
                    return false
                case .failed(let error):
                    connection.fail(error)
                    return true
                case .succeeded:
                    connection.startKeepalive()
                    continuation.resume()
                    return true
                }
            }
        }
    }
}

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
                }
                if rc == LIBSSH2_ERROR_EAGAIN { return false }
                if rc != 0 {
                    let what = if case .exec(let command) = request.kind { "command \"\(command)\"" } else { "a shell" }
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
