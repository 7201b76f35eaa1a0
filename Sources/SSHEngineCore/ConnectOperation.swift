import SSHBackend
import SSHEventLoop

/// Where a native step (handshake, authentication) stands.
package enum NativeStep {
    /// The library would block; step again on the next wake-up.
    case wouldBlock
    /// Finished successfully.
    case done
    /// Failed; the connection fails with this error.
    case failed(SSHError)
}

/// A connection that ``ConnectOperation`` can bring up: the engine supplies the native handshake and
/// authentication steps, the operation does the rest.
package protocol ConnectingConnection: IOHandler, EngineConnection {
    /// What to connect to and how to authenticate.
    var options: SSHConnectionOptions { get }
    /// The socket slot the dialer fills.
    var socket: ConnectionSocket { get }
    /// Restarts the head operation's deadline.
    func restartDeadline(_ timeout: Duration, activity: String)
    /// One step of the SSH handshake on the connected socket.
    func stepHandshake() -> NativeStep
    /// One step of authentication.
    func stepAuthentication() -> NativeStep
    /// Starts keepalives once authenticated (if the options ask for them).
    func startKeepalive()
}

/// TCP connect (each resolved address in turn, under the connect timeout), SSH handshake and authentication
/// (each under the operation timeout), as one operation at the head of a new connection's queue.
package final class ConnectOperation<Connection: ConnectingConnection>: EngineOperation {
    private enum Phase {
        case tcp
        case handshake
        case authenticate
    }

    private var dialer: TCPDialer
    private let continuation: CheckedContinuation<Void, any Error>
    private var phase: Phase = .tcp
    package let timeout: Duration
    package let activity: String

    /// Connects to `addresses` (resolved from the options' host); resumes `continuation` once authenticated.
    package init(addresses: [SocketAddress], options: SSHConnectionOptions,
                 continuation: CheckedContinuation<Void, any Error>) {
        self.dialer = TCPDialer(addresses: addresses, host: options.host, port: options.port)
        self.continuation = continuation
        self.timeout = options.connectTimeout
        self.activity = "connecting to \(options.host):\(options.port)"
    }

    package func fail(_ error: any Error) { continuation.resume(throwing: error) }

    package func step(_ connection: Connection) -> Bool {
        let target = "\(connection.options.host):\(connection.options.port)"
        while true {
            let outcome: NativeStep
            switch phase {
            case .tcp:
                switch dialer.step(connection.socket, handler: connection) {
                case .wouldBlock: outcome = .wouldBlock
                case .failed(let error): outcome = .failed(error)
                case .connected: outcome = .done
                }
            case .handshake:
                outcome = connection.stepHandshake()
            case .authenticate:
                outcome = connection.stepAuthentication()
            }
            switch outcome {
            case .wouldBlock:
                return false
            case .failed(let error):
                connection.fail(error)
                return true
            case .done:
                switch phase {
                case .tcp:
                    phase = .handshake
                    connection.restartDeadline(connection.options.operationTimeout,
                                               activity: "the SSH handshake with \(target)")
                case .handshake:
                    phase = .authenticate
                    connection.restartDeadline(connection.options.operationTimeout,
                                               activity: "authenticating to \(target)")
                case .authenticate:
                    connection.startKeepalive()
                    continuation.resume()
                    return true
                }
            }
        }
    }
}
