import SSHBackend

/// The native steps of opening one channel, which an engine supplies to ``OpenChannelOperation``. Each step is
/// called again with the same arguments until it stops returning `wouldBlock`.
package protocol NativeChannelOpener: AnyObject {
    /// The engine's connection.
    associatedtype Connection: StatefulConnection
    /// Opens a session channel.
    func open(_ connection: Connection) -> NativeStep
    /// Sends one environment variable.
    func setEnvironment(_ name: String, _ value: String, _ connection: Connection) -> NativeStep
    /// Requests a pseudo-terminal.
    func requestPTY(_ pty: SSHPTYRequest, _ connection: Connection) -> NativeStep
    /// Starts the command, shell or subsystem.
    func start(_ kind: SSHChannelRequest.Kind, _ connection: Connection) -> NativeStep
    /// The running channel's state, after `start` succeeded.
    func opened(_ connection: Connection) -> Connection.Channel
    /// Hands a half-set-up channel to the connection to be closed and freed (a step failed).
    func abandon(_ connection: Connection)
}

/// Opens a session channel, sends env and PTY requests, then starts exec, shell or a subsystem: one
/// session-level operation, the same sequence on every engine.
package final class OpenChannelOperation<Opener: NativeChannelOpener>: EngineOperation {
    private enum Phase {
        case open
        case environment(index: Int)
        case pty
        case start
    }

    private let request: SSHChannelRequest
    private let environment: [(String, String)]
    private let opener: Opener
    private let completion: (Result<Opener.Connection.Channel, any Error>) -> Void
    private var phase: Phase = .open
    package let timeout: Duration
    package let activity = "opening a channel"

    /// Opens a channel for `request` with `opener`'s native calls; `completion` gets the running channel.
    package init(request: SSHChannelRequest, timeout: Duration, opener: Opener,
                 completion: @escaping (Result<Opener.Connection.Channel, any Error>) -> Void) {
        self.request = request
        self.environment = request.environment.sorted { $0.key < $1.key }
        self.opener = opener
        self.timeout = timeout
        self.completion = completion
    }

    package func fail(_ error: any Error) {
        completion(.failure(error))
    }

    package func step(_ connection: Opener.Connection) -> Bool {
        while true {
            let outcome: NativeStep
            switch phase {
            case .open:
                outcome = opener.open(connection)
            case .environment(let index):
                guard index < environment.count else {
                    phase = .pty
                    continue
                }
                outcome = opener.setEnvironment(environment[index].0, environment[index].1, connection)
            case .pty:
                guard let pty = request.pty else {
                    phase = .start
                    continue
                }
                outcome = opener.requestPTY(pty, connection)
            case .start:
                outcome = opener.start(request.kind, connection)
            }
            switch outcome {
            case .wouldBlock:
                return false
            case .failed(let error):
                if connection.failure == nil { opener.abandon(connection) }
                if error.code == .connectionLost {
                    connection.fail(error)  // fails this operation too: it is still at the head of the queue
                } else {
                    completion(.failure(error))
                }
                return true
            case .done:
                switch phase {
                case .open: phase = .environment(index: 0)
                case .environment(let index): phase = .environment(index: index + 1)
                case .pty: phase = .start
                case .start:
                    let channel = opener.opened(connection)
                    connection.add(channel)
                    completion(.success(channel))
                    return true
                }
            }
        }
    }
}
