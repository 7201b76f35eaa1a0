import SSHBackend
import SSHEventLoop
import SSHKerberos
import Synchronization

/// What asking the server which methods it offers came to (the `none` request).
package enum MethodQuery {
    /// The library would block.
    case wouldBlock
    /// The server let us in without authentication.
    case accepted
    /// The methods the server offers.
    case methods([String])
    /// The transport broke.
    case failed(SSHError)
}

/// What one attempt's native call came to.
package enum AttemptOutcome {
    /// The library would block: call again with the same arguments.
    case wouldBlock
    /// Authenticated.
    case accepted
    /// Accepted, but the server requires a further method; these are what it offers now.
    case partial([String])
    /// This attempt failed (denied, or refused for a reason the text says); the next one runs.
    case denied(String)
    /// The attempt's key itself was unusable (it could not be parsed or decrypted); the next one runs.
    case keyProblem(String)
    /// Authentication cannot go on (the transport broke, the process ran out of file descriptors).
    case failed(SSHError)
}

/// An engine's calls for authentication: its C library's, nothing else. ``AuthRun`` decides what to call, in
/// which order, what each outcome means and what is recorded; the engine maps native return codes to outcomes.
/// Each call is repeated with the same attempt while it answers ``AttemptOutcome/wouldBlock``.
package protocol AuthCalls: AnyObject {
    /// The engine's native connection.
    associatedtype Native
    /// Asks the server for its methods (the `none` request).
    func queryMethods(_ connection: Native) -> MethodQuery
    /// Public key authentication with the attempt's own key (a file, memory or a certificate), prepared before
    /// the connection started.
    func tryKey(_ attempt: AuthAttempt, _ connection: Native) -> AttemptOutcome
    /// Public key authentication through the agent, connected and listed before the connection started.
    func tryAgent(_ agent: AgentSession, _ connection: Native) -> AttemptOutcome
    /// Password authentication.
    func tryPassword(_ password: String, _ connection: Native) -> AttemptOutcome
    /// Keyboard-interactive authentication; the responder answers prompts.
    func tryKeyboardInteractive(_ responder: SSHKeyboardInteractiveResponder, _ connection: Native) -> AttemptOutcome
    /// Why the engine cannot do Kerberos (GSSAPI) authentication at all, or `nil` when it can.
    var gssapiUnavailable: String? { get }
    /// Kerberos (GSSAPI) authentication; the service ticket is already in the credential cache.
    func tryGSSAPI(_ options: SSHGSSAPIOptions, _ connection: Native) -> AttemptOutcome
    /// The attempt ended (whatever the outcome): let go of what the engine kept for it.
    func endAttempt()
}

/// One authentication run, the same for every engine: ask the server's methods, then each planned attempt in
/// order, skipping what the server does not offer and what is known not to work (an unreadable file, an agent
/// that cannot be used), recording how each ended, until one is accepted or none is left.
///
/// A state machine: ``State`` holds where the run is, ``step(_:_:)`` makes the one native call that state asks
/// for and moves on by its outcome (``transition(_:_:)``, a pure function the table test exercises).
package struct AuthRun {
    /// Where the run is.
    package enum State {
        /// Asking the server which methods it offers.
        case askingMethods
        /// Choosing the next attempt.
        case choosing
        /// Running the attempt at this index of the plan.
        case attempting(Int)
        /// Authenticated.
        case succeeded
        /// Failed with this error.
        case failed(SSHError)
    }

    /// What the run does after a native call.
    package enum Action {
        /// Call again on the next wake-up.
        case waitForIO
        /// Authentication succeeded.
        case succeed
        /// Record `outcome` for the current attempt (`keyProblem`: the caller's key was at fault) and go on.
        case record(String, keyProblem: Bool)
        /// Authentication is over, failed.
        case fail(SSHError)
        /// Go on (the state changed).
        case proceed
    }

    /// A native call's result, as an event for the machine.
    package enum Event {
        case methods(MethodQuery.Reply)
        case attempt(AttemptOutcome, isExplicitKey: Bool)
    }

    private(set) package var state: State = .askingMethods
    private var progress: AuthProgress
    private let attempts: [AuthAttempt]
    /// Steps the connection again from any thread, once work done off the loop has finished.
    private let wake: @Sendable () -> Void
    /// The current GSSAPI attempt's service ticket, fetched off the loop.
    private var ticket: TicketFetch?

    /// A run over `attempts`, prepared for `options`; `wake` steps the connection again after work off the loop.
    package init(options: SSHConnectionOptions, attempts: [AuthAttempt], wake: @escaping @Sendable () -> Void) {
        self.attempts = attempts
        self.wake = wake
        progress = AuthProgress(options: options, attempts: attempts)
    }

    /// The move from `state` on `event`: the next state and the action, with no side effect.
    package static func transition(_ state: State, _ event: Event) -> (State, Action) {
        switch (state, event) {
        case (.askingMethods, .methods(.wouldBlock)): return (.askingMethods, .waitForIO)
        case (.askingMethods, .methods(.accepted)): return (.succeeded, .succeed)
        case (.askingMethods, .methods(.offered)): return (.choosing, .proceed)
        case (.askingMethods, .methods(.failed(let error))): return (.failed(error), .fail(error))
        case (.attempting(let index), .attempt(let outcome, let explicit)):
            switch outcome {
            case .wouldBlock: return (.attempting(index), .waitForIO)
            case .accepted: return (.succeeded, .succeed)
            case .partial:
                return (.choosing, .record("accepted, but the server requires a further method", keyProblem: false))
            case .denied(let text): return (.choosing, .record(text, keyProblem: false))
            case .keyProblem(let text): return (.choosing, .record(text, keyProblem: explicit))
            case .failed(let error): return (.failed(error), .fail(error))
            }
        default:
            let error = SSHError(.protocolError, message: "authentication: \(event) in state \(state)")
            return (.failed(error), .fail(error))
        }
    }

    /// Steps the run with `calls` on `connection` until it would block or is over.
    package mutating func step<Calls: AuthCalls>(_ calls: Calls, _ connection: Calls.Native) -> NativeStep {
        while true {
            switch state {
            case .succeeded:
                return .done
            case .failed(let error):
                return .failed(error)
            case .choosing:
                guard let attempt = progress.next() else {
                    state = .failed(progress.exhaustedError)
                    continue
                }
                if attempt.descriptorsExhausted {
                    let error = SSHError(
                        .resourceExhausted, host: progress.host, port: progress.port,
                        message: "cannot open the key file: \(attempt.knownProblem ?? "too many open files")")
                    state = .failed(error)
                    continue
                }
                state = .attempting(progress.currentIndex)
            case .askingMethods:
                let query = calls.queryMethods(connection)
                if case .methods(let offered) = query { progress.serverMethods = offered }
                let (next, action) = Self.transition(state, .methods(query.reply))
                state = next
                if case .waitForIO = action { return .wouldBlock }
            case .attempting(let index):
                let attempt = attempts[index]
                let outcome: AttemptOutcome
                switch attempt {
                case .keyFile, .keyData, .certificate: outcome = calls.tryKey(attempt, connection)
                case .agent(.ready(let agent)): outcome = calls.tryAgent(agent, connection)
                case .agent(.unusable(let reason)): outcome = .denied(reason)  // recorded by `next()` already
                case .password(let password): outcome = calls.tryPassword(password, connection)
                case .keyboardInteractive(let responder): outcome = calls.tryKeyboardInteractive(responder, connection)
                case .gssapi(let options): outcome = gssapi(options, calls, connection)
                }
                let (next, action) = Self.transition(state, .attempt(outcome, isExplicitKey: attempt.isExplicitKey))
                state = next
                switch action {
                case .waitForIO:
                    return .wouldBlock
                case .record(let text, let keyProblem):
                    progress.record(text, keyProblem: keyProblem)
                    if case .partial(let offered) = outcome { progress.serverMethods = offered }
                    calls.endAttempt()
                    ticket = nil
                case .succeed, .fail:
                    calls.endAttempt()
                    ticket = nil
                case .proceed:
                    break
                }
            }
        }
    }
}

extension AuthRun {
    /// A GSSAPI attempt: the service ticket fetched off the loop first (the engine's call would otherwise ask the
    /// KDC on the loop thread), then the engine's call.
    private mutating func gssapi<Calls: AuthCalls>(
        _ options: SSHGSSAPIOptions, _ calls: Calls, _ connection: Calls.Native
    ) -> AttemptOutcome {
        if let reason = calls.gssapiUnavailable { return .denied(reason) }
        guard let ticket else {
            ticket = TicketFetch(options, host: progress.host, wake: wake)
            return .wouldBlock
        }
        switch ticket.outcome {
        case nil: return .wouldBlock
        case .some(let problem?): return .denied(problem)
        case .some(nil): return calls.tryGSSAPI(options, connection)
        }
    }
}

/// A Kerberos service ticket fetched on the blocking pool for one GSSAPI attempt (``KerberosTicket``); the
/// connection is woken when it is there, or known not to be.
final class TicketFetch: Sendable {
    /// `nil` while the fetch runs; then `nil` inside when the ticket is cached, else why not.
    private let result = Mutex<String??>(nil)

    /// Starts fetching the ticket for `options` (its server identity, else `host`).
    init(_ options: SSHGSSAPIOptions, host: String, wake: @escaping @Sendable () -> Void) {
        let service = options.serverIdentity ?? host
        Task { [self] in
            let problem = await BlockingPool.kerberos.run {
                KerberosTicket.prepare(
                    service: service, client: options.clientIdentity, delegate: options.delegateCredentials)
            }
            result.withLock { $0 = .some(problem) }
            wake()
        }
    }

    /// What the fetch came to, once it has.
    var outcome: String?? { result.withLock { $0 } }
}

extension MethodQuery {
    /// The query's outcome without its data, as the machine's event.
    package enum Reply {
        case wouldBlock, accepted, offered
        case failed(SSHError)
    }

    var reply: Reply {
        switch self {
        case .wouldBlock: .wouldBlock
        case .accepted: .accepted
        case .methods: .offered
        case .failed(let error): .failed(error)
        }
    }
}
