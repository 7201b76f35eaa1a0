import SSHBackend
import SSHEventLoop
import SSHKnownHosts

/// TCP connect (each resolved address in turn, under the connect timeout), SSH handshake, host-key check and
/// authentication (each under the operation timeout), as one operation at the head of a new connection's queue.
/// The host-key algorithms are set before the handshake, and nothing is sent after it until the key is accepted:
/// authentication is the next phase.
package final class ConnectOperation<Native: NativeConnection>: EngineOperation {
    private typealias Phase = ConnectPhase

    private var dialer: TCPDialer
    /// The ProxyCommand or tunnel whose socket replaces the TCP connection, if any.
    private let transport: (any PreconnectedTransport)?
    private var authenticator: Native.Authenticator?
    private let continuation: CheckedContinuation<String?, any Error>
    private var phase: Phase = .tcp
    package let timeout: Duration?
    package let activity: String
    private let hostKeyCheck: HostKeyCheck
    /// The host-key algorithms offered, in order.
    private var offered: [String] = []
    /// The host-key decision, once made; `deciding` while it is made off the loop (a file write or a prompt).
    private var decision: Result<HostKeyCheck.Acceptance, any Error>?
    private var deciding = false
    /// What authentication tries, prepared before the connection started (password methods dropped when the key
    /// was accepted only with checking off).
    private var attempts: [AuthAttempt]

    /// Connects to `addresses` (resolved from the options' host); resumes `continuation` once authenticated.
    /// - Parameter transport: a started ProxyCommand or tunnel, whose socket is used instead of dialing `addresses`.
    package init(
        addresses: [SocketAddress], transport: (any PreconnectedTransport)? = nil, options: SSHConnectionOptions,
        attempts: [AuthAttempt], hostKeyCheck: HostKeyCheck, continuation: CheckedContinuation<String?, any Error>
    ) {
        self.attempts = attempts
        self.dialer = TCPDialer(addresses: addresses, host: options.host, port: options.port)
        self.transport = transport
        self.hostKeyCheck = hostKeyCheck
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
                if let transport {
                    do {
                        try connection.socket.adopt(fd: transport.fd, handler: connection)
                        connection.socket.transport = transport
                        outcome = .done
                    } catch {
                        transport.discard(on: connection.loop)
                        outcome = .failed(error)
                    }
                    break
                }
                switch dialer.step(connection.socket, handler: connection) {
                case .wouldBlock: outcome = .wouldBlock
                case .failed(let error): outcome = .failed(error)
                case .connected: outcome = .done
                }
            case .handshake:
                connection.handshakeFailure.peek(connection.socket.fd)  // before the engine reads it
                outcome = connection.native.handshake()
            case .verifyHostKey:
                outcome = verifyHostKey(connection)
            case .connected, .failed:
                return true
            case .authenticate:
                let authenticator = self.authenticator ?? makeAuthenticator(connection)
                self.authenticator = authenticator
                outcome = authenticator.step(connection.native)
            }
            var prompting = false
            if case .ask = connection.options.hostKeyPolicy.mode { prompting = true }
            let (next, action) = ConnectPhase.transition(phase, outcome.kind, prompting: prompting)
            phase = next
            switch action {
            case .waitForIO:
                return false
            case .fail:
                if case .failed(let error) = outcome { connection.fail(error) }
                return true
            case .startHandshake:
                do {
                    let lists = try negotiationLists(connection.options)
                    offered = lists.hostKeys
                    try connection.native.makeSession(algorithms: lists)
                } catch {
                    phase = .failed
                    connection.fail(error)
                    return true
                }
                // As OpenSSH's ConnectTimeout, which also bounds the wait for the server's banner: a server whose
                // link died after TCP connected is given up at the connect deadline.
                connection.restartDeadline(
                    connection.options.connectTimeout ?? connection.options.operationTimeout,
                    activity: "the SSH handshake with \(target)")
            case .checkHostKey(let deadline):
                connection.keyExchangeDone = true
                // A prompt waits for a person: no deadline of ours then.
                connection.restartDeadline(
                    deadline ? connection.options.operationTimeout : nil,
                    activity: "checking the host key of \(target)")
            case .authenticate:
                connection.restartDeadline(connection.options.operationTimeout, activity: "authenticating to \(target)")
            case .finish:
                authenticator = nil
                connection.startKeepalive()
                continuation.resume(returning: connection.native.authenticationBanner())
                return true
            }
        }
    }

    /// The engine's authenticator for `connection`, which steps the connection again when off-loop work is done.
    private func makeAuthenticator(_ connection: ConnectionDriver<Native>) -> Native.Authenticator {
        let driver = LoopBound(connection, loop: connection.loop)
        return Native.Authenticator(
            options: connection.options, attempts: attempts, wake: { driver.execute { $0.drive() } })
    }

    /// The host-key phase: the decision made on the loop when it needs no I/O, else off the loop (writing the
    /// known-hosts file, asking the prompter), resuming the connection when it is made.
    private func verifyHostKey(_ connection: ConnectionDriver<Native>) -> NativeStep {
        if let decision {
            switch decision {
            case .success(let acceptance):
                if case .acceptedWithoutPasswords(let warning) = acceptance {
                    connection.options.hostKeyPolicy.warn(
                        host: connection.options.host, port: connection.options.port,
                        warning)
                    attempts = attempts.filter { !$0.sendsPassword }
                }
                return .done
            case .failure(let error as SSHError):
                return .failed(error)
            case .failure(let error):
                return .failed(
                    SSHError(
                        .hostKeyUnknown, host: connection.options.host, port: connection.options.port,
                        message: "the host key was refused: \(error)"))
            }
        }
        if deciding { return .wouldBlock }
        guard let key = connection.native.serverHostKey() else {
            return .failed(
                SSHError(
                    .protocolError, host: connection.options.host, port: connection.options.port,
                    message: "the engine did not give the server's host key after key exchange"))
        }
        if let now = hostKeyCheck.decideNow(key, offered: offered) {
            decision = now.mapError { $0 }
            return verifyHostKey(connection)
        }
        deciding = true
        let check = hostKeyCheck
        let offered = offered
        let operation = LoopBound(self, loop: connection.loop)
        let driver = LoopBound(connection, loop: connection.loop)
        Task {
            let result: Result<HostKeyCheck.Acceptance, any Error>
            do { result = .success(try await check.decide(key, offered: offered)) } catch { result = .failure(error) }
            operation.execute { operation in
                operation.decision = result
                driver.execute { $0.drive() }
            }
        }
        return .wouldBlock
    }

    /// The algorithm lists for the engine: the host-key order from the known hosts (or the caller's list), and the
    /// caller's ciphers, key exchange and MACs, each limited to what the engine supports.
    /// - Throws: `unsupported` when a list the caller gave has nothing the engine supports.
    private func negotiationLists(_ options: SSHConnectionOptions) throws(SSHError) -> SSHNegotiationLists {
        let support = Native.supportedAlgorithms
        let wanted = options.algorithms
        func limited(_ list: [String]?, _ supported: [String], _ what: String) throws(SSHError) -> [String]? {
            guard let list else { return nil }
            let kept = list.filter(supported.contains)
            guard !kept.isEmpty else {
                throw SSHError(
                    .unsupported, host: options.host, port: options.port,
                    message: "none of the \(what) asked for (\(list.joined(separator: ","))) is supported by this "
                        + "engine, which has \(supported.joined(separator: ","))")
            }
            return kept
        }
        let hostKeys = hostKeyCheck.algorithms(
            supported: support.hostKeys, configured: wanted.hostKeys,
            reorder: wanted.reorderHostKeys)
        guard !hostKeys.isEmpty else {
            throw SSHError(
                .unsupported, host: options.host, port: options.port,
                message: "none of the host-key algorithms asked for is supported by this engine, which has "
                    + support.hostKeys.joined(separator: ","))
        }
        return SSHNegotiationLists(
            hostKeys: hostKeys,
            ciphers: try limited(wanted.ciphers, support.ciphers, "ciphers"),
            keyExchange: try limited(wanted.keyExchange, support.keyExchange, "key-exchange methods"),
            macs: try limited(wanted.macs, support.macs, "MACs"))
    }
}

/// Where a connect stands: TCP (or the ProxyCommand or tunnel socket), the SSH handshake, the host-key check,
/// authentication; then connected, or failed.
package enum ConnectPhase: Equatable, Sendable {
    case tcp, handshake, verifyHostKey, authenticate, connected, failed

    /// What the phase's native step came to, without its data.
    package enum Outcome: Equatable, Sendable {
        case wouldBlock, done, failed
    }

    /// What the operation does on entering the next phase.
    package enum Action: Equatable, Sendable {
        /// Wait for the socket.
        case waitForIO
        /// Fail the connection with the step's error.
        case fail
        /// Make the native session with the algorithm lists; the connect deadline now bounds the handshake.
        case startHandshake
        /// Key exchange is done: check the host key, under the operation deadline (`false`: none, a person is asked).
        case checkHostKey(deadline: Bool)
        /// The key is accepted: authenticate, under the operation deadline.
        case authenticate
        /// Authenticated: start keepalive, hand the session over.
        case finish
    }

    /// The move from `phase` when its step came to `outcome` (`prompting`: host keys are asked of a person).
    package static func transition(_ phase: ConnectPhase, _ outcome: Outcome, prompting: Bool) -> (ConnectPhase, Action)
    {
        switch (phase, outcome) {
        case (.connected, _), (.failed, _): return (phase, .waitForIO)
        case (_, .wouldBlock): return (phase, .waitForIO)
        case (_, .failed): return (.failed, .fail)
        case (.tcp, .done): return (.handshake, .startHandshake)
        case (.handshake, .done): return (.verifyHostKey, .checkHostKey(deadline: !prompting))
        case (.verifyHostKey, .done): return (.authenticate, .authenticate)
        case (.authenticate, .done): return (.connected, .finish)
        }
    }
}

extension NativeStep {
    /// The step's outcome without its data.
    var kind: ConnectPhase.Outcome {
        switch self {
        case .wouldBlock: .wouldBlock
        case .done: .done
        case .failed: .failed
        }
    }
}
