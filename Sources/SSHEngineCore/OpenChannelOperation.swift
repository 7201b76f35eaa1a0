import SSHBackend

/// Opens a session channel, sends env and PTY requests, then starts exec, shell or a subsystem: one
/// session-level operation, the same sequence on every engine.
package final class OpenChannelOperation<Native: NativeConnection>: EngineOperation {
    private enum Phase {
        case open
        case agent
        case environment(index: Int)
        case pty
        case start
    }

    private let request: SSHChannelRequest
    private let environment: [(String, String)]
    private let opener: Native.Opener
    private let completion: (Result<ChannelDriver<Native>, any Error>) -> Void
    private var phase: Phase = .open
    /// What the server refused on the way (advisory, as OpenSSH treats it).
    private var refused = SSHRefusedRequests()
    /// Session channels the server closed as it confirmed them, and that were opened again.
    private var reopened = 0
    /// At most how often a channel the server closed as it confirmed it is opened again.
    static var maximumReopenings: Int { 3 }
    package let timeout: Duration?
    package let activity = "opening a channel"

    /// Opens a channel for `request` with `opener`'s native calls; `completion` gets the running channel.
    package init(
        request: SSHChannelRequest, timeout: Duration?, opener: Native.Opener,
        completion: @escaping (Result<ChannelDriver<Native>, any Error>) -> Void
    ) {
        self.request = request
        self.environment = request.environment.sorted { $0.key < $1.key }
        self.opener = opener
        self.timeout = timeout
        self.completion = completion
    }

    package func fail(_ error: any Error) {
        completion(.failure(error))
    }

    /// Nothing started before the exec, shell or subsystem request (a tunnel starts when it opens).
    package var isUnstarted: Bool {
        if case .directTCPIP = request.kind { return false }
        switch phase {
        case .open, .agent, .environment, .pty: return true
        case .start: return false
        }
    }

    package func step(_ connection: ConnectionDriver<Native>) -> Bool {
        let native = connection.native
        while true {
            let outcome: NativeStep
            switch phase {
            case .open:
                if case .directTCPIP(let host, let port) = request.kind {
                    outcome = opener.openDirectTCPIP(host: host, port: port, window: request.receiveWindow, native)
                } else {
                    outcome = opener.open(native, window: request.receiveWindow)
                }
            case .agent:
                // As ssh: the agent request first, then the environment, the PTY and the command.
                guard connection.options.forwardAgent != nil, request.kind.runsCommand else {
                    phase = .environment(index: 0)
                    continue
                }
                outcome = opener.requestAgentForwarding(native)
            case .environment(let index):
                guard index < environment.count else {
                    phase = .pty
                    continue
                }
                outcome = opener.setEnvironment(environment[index].0, environment[index].1, native)
            case .pty:
                guard let pty = request.pty else {
                    phase = .start
                    continue
                }
                outcome = opener.requestPTY(pty, native)
            case .start:
                outcome = opener.start(request.kind, native)
            }
            switch outcome {
            case .wouldBlock:
                return false
            case .failed(let error) where error.code == .channelFailure && isAdvisory:
                // OpenSSH sends `env` without asking for a reply and reports a refused PTY but goes on: neither
                // fails the session. libssh2 and libssh wait for the reply, so the refusal is seen, and noted.
                switch phase {
                case .agent:
                    refused.agentForwarding = true
                    phase = .environment(index: 0)
                case .environment(let index):
                    refused.environment.append(environment[index].0)
                    phase = .environment(index: index + 1)
                default:
                    refused.pty = true
                    phase = .start
                }
                continue
            case .failed(let error) where closedAsConfirmed(error: error) && reopened < Self.maximumReopenings:
                reopen(connection)
                continue
            case .failed(var error):
                if case .open = phase, error.code == .channelFailure, request.kind.isSession {
                    error.code = .channelOpenRefused  // nothing started: the caller may go elsewhere
                }
                if connection.failure == nil, let abandoned = opener.channel { connection.discard(abandoned) }
                if error.code == .connectionLost {
                    connection.fail(error)  // fails this operation too: it is still at the head of the queue
                } else {
                    completion(.failure(error))
                }
                return true
            case .done:
                switch phase {
                case .open:
                    if case .directTCPIP = request.kind {
                        // A tunnel runs as soon as it is open: no environment, PTY or start request.
                        guard let channel = opener.channel else { return true }
                        completion(.success(connection.adopt(channel, unreadOutputLimit: request.unreadOutputLimit)))
                        return true
                    }
                    if closedAsConfirmed(error: nil) {
                        if reopened < Self.maximumReopenings {
                            reopen(connection)
                            continue
                        }
                        if let abandoned = opener.channel { connection.discard(abandoned) }
                        fail(.channelOpenRefused, "the server closed every channel as it opened it", connection)
                        return true
                    }
                    phase = .agent
                case .agent: phase = .environment(index: 0)
                case .environment(let index): phase = .environment(index: index + 1)
                case .pty: phase = .start
                case .start:
                    guard let channel = opener.channel else {
                        fail(.protocolError, "the engine started a channel it never opened", connection)
                        return true
                    }
                    let driver = connection.adopt(channel, unreadOutputLimit: request.unreadOutputLimit)
                    driver.refusedRequests = refused
                    completion(.success(driver))
                    return true
                }
            }
        }
    }

    /// Whether the session channel just opened (or whose open just failed with `error`) was closed by the server
    /// as it confirmed it, before any request: Dropbear before 2024.86 does so to a new session channel when a
    /// command of another channel exits at that moment (it takes the channel for one whose command ended). The
    /// channel is then unusable (a request on it makes that server drop the whole connection), but nothing was
    /// started: it is opened again, a few times at most (``maximumReopenings``).
    private func closedAsConfirmed(error: SSHError?) -> Bool {
        guard case .open = phase, request.kind.isSession, error == nil || error?.code == .channelFailure,
            let channel = opener.channel
        else { return false }
        return channel.receivedEOF
    }

    /// Completes with an error of `code` naming the connection's host.
    private func fail(_ code: SSHError.Code, _ message: String, _ connection: ConnectionDriver<Native>) {
        completion(
            .failure(SSHError(code, host: connection.options.host, port: connection.options.port, message: message)))
    }

    /// Discards the channel the server closed and opens another.
    private func reopen(_ connection: ConnectionDriver<Native>) {
        if let abandoned = opener.channel { connection.discard(abandoned) }
        opener.forgetChannel()
        reopened += 1
        phase = .open
    }

    /// Whether a refusal in the current phase leaves the channel usable (agent forwarding, an environment
    /// variable, the PTY).
    private var isAdvisory: Bool {
        switch phase {
        case .agent, .environment, .pty: return true
        case .open, .start: return false
        }
    }
}

extension SSHChannelRequest.Kind {
    /// Whether the channel is a session channel (exec, shell, subsystem), not a tunnel.
    var isSession: Bool {
        if case .directTCPIP = self { return false }
        return true
    }

    /// Whether the channel runs a command or a shell (what a forwarded agent is for; not a subsystem or tunnel).
    var runsCommand: Bool {
        switch self {
        case .exec, .execBytes, .shell: return true
        case .subsystem, .directTCPIP: return false
        }
    }
}
