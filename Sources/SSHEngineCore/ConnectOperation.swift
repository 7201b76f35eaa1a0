import SSHBackend
import SSHEventLoop

/// TCP connect (each resolved address in turn, under the connect timeout), SSH handshake and authentication
/// (each under the operation timeout), as one operation at the head of a new connection's queue.
package final class ConnectOperation<Native: NativeConnection>: EngineOperation {
    private enum Phase {
        case tcp
        case handshake
        case authenticate
    }

    private var dialer: TCPDialer
    private var authenticator: Native.Authenticator?
    private let continuation: CheckedContinuation<Void, any Error>
    private var phase: Phase = .tcp
    package let timeout: Duration?
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

    package func step(_ connection: ConnectionDriver<Native>) -> Bool {
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
                outcome = connection.native.handshake()
            case .authenticate:
                let authenticator = self.authenticator ?? Native.Authenticator(options: connection.options)
                self.authenticator = authenticator
                outcome = authenticator.step(connection.native)
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
                    do { try connection.native.makeSession() } catch {
                        connection.fail(error)
                        return true
                    }
                    phase = .handshake
                    connection.restartDeadline(connection.options.operationTimeout,
                                               activity: "the SSH handshake with \(target)")
                case .handshake:
                    phase = .authenticate
                    connection.restartDeadline(connection.options.operationTimeout,
                                               activity: "authenticating to \(target)")
                case .authenticate:
                    authenticator = nil
                    connection.startKeepalive()
                    continuation.resume()
                    return true
                }
            }
        }
    }
}
