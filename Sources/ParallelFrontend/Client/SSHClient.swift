import Foundation
import Logging
import SSHBackend
import SSHConfig
import SSHEventLoop
import Synchronization

/// One host: connects (with retries) on first use, runs commands and opens shells on that one connection.
///
/// ```swift
/// let client = try SSHClient(host: "web1", backend: LibSSH2Backend(), config: HostConfig(user: "deploy"))
/// let output = try await client.runCommand("uptime")
/// for try await line in output.stdout { print(line) }
/// ```
///
/// It takes the same settings, in the same ``HostConfig``, as ``ParallelSSHClient``, and checks them the same way.
public actor SSHClient {
    /// The host name.
    public nonisolated let host: String
    /// The position in a parallel client's host list (0 for a standalone client).
    public nonisolated let index: Int
    /// The settings the caller gave (client over per-host), checked; the fields still `nil` come from
    /// `ssh_config` (see ``resolvedConfig()``), then ``HostConfig/defaults``, when the host connects.
    public nonisolated let config: HostConfig
    private let backend: any SSHBackend
    private let logger: Logger?
    private let diagnostics: Logger?
    /// The host as diagnostics name it: its alias when it has one (as output does), else its name.
    private nonisolated var logName: String { config.alias ?? host }
    private let handshakes: HandshakeControl?
    private var session: (any SSHSession)?
    /// The connection being made, shared by every caller that needs it meanwhile (the actor is reentrant).
    private var connecting: ConnectAttempt?
    /// The plan the session was made with (its environment goes with every command).
    private var plan: ConnectionPlan?

    /// Creates a client for `host`; nothing connects until the first command (or ``connect()``).
    /// - Parameters:
    ///   - host: the host name or address.
    ///   - backend: the engine, e.g. `LibSSH2Backend()` or `LibSSHBackend()` (`import ParallelSSH` offers this
    ///     initialiser without it, on libssh).
    ///   - config: the connection settings (user, port, credentials, timeouts, attempts); see ``HostConfig``.
    ///   - hostLogger: logs every output line read as `[host]\tline` (stderr `[host]\t[err]\tline`), e.g.
    ///     `.hostOutput()`.
    ///   - logger: the client's own diagnostics (connection attempts, retries, failures).
    /// - Throws: `SSHError` with code `invalidArgument` for a value out of range, or `invalidKey` naming a key file
    ///   that is missing or unreadable.
    public init(
        host: String, backend: any SSHBackend, config: HostConfig = HostConfig(), hostLogger: Logger? = nil,
        logger: Logger? = nil
    ) throws(SSHError) {
        var readable = Set<String>()
        let resolved = try config.resolved(over: HostConfig(), host: host, backend: backend, readableFiles: &readable)
        HostConfig.warnIfInsecure([resolved], hosts: [host], logger: logger)
        self.init(
            host: host, index: 0, backend: backend, resolved: resolved, hostLogger: hostLogger, logger: logger,
            handshakes: nil)
    }

    /// Creates a client from settings already resolved and checked (by the parallel client).
    init(
        host: String, index: Int, backend: any SSHBackend, resolved config: HostConfig, hostLogger: Logger?,
        logger: Logger?, handshakes: HandshakeControl?
    ) {
        self.host = host
        self.index = index
        self.config = config
        self.backend = backend
        self.logger = hostLogger
        self.diagnostics = logger
        self.handshakes = handshakes
    }

    /// Connects and authenticates now, making up to ``HostConfig/connectionAttempts`` attempts `retryDelay` apart
    /// for failures worth trying again (see ``HostConfig/connectionAttempts``).
    public func connect() async throws {
        _ = try await connectedSession()
    }

    /// Callers waiting for the connection being made now (for tests).
    var pendingConnectWaiters: Int { connecting?.waiterCount ?? 0 }

    /// The session, connecting first if needed. Concurrent callers share one attempt (the actor is reentrant); a
    /// caller whose task is cancelled stops waiting, and the attempt itself is cancelled only when no caller is
    /// left waiting for it. A failed attempt is retried by the next call.
    func connectedSession() async throws -> any SSHSession {
        if let session {
            switch session.state {
            case .open:
                return session
            case .lost(let error, let idle):
                // A connection that died (an sshd restart, a NAT timeout, a server that hangs up after each
                // channel) is made again for the next operation; what ran when it died already failed with it.
                diagnostics?.info(
                    "the connection was lost\(idle ? " while idle" : ""); connecting again",
                    metadata: ["host": "\(logName)", "error": "\(error)"])
                self.session = nil
            case .closed:
                self.session = nil
            }
        }
        let attempt: ConnectAttempt
        if let connecting, !connecting.isAbandoned {
            // An attempt whose callers all gave up is ending: a new caller starts afresh rather than inherit its
            // cancellation.
            attempt = connecting
        } else {
            attempt = ConnectAttempt(executor: backend.preferredTaskExecutor) { try await self.connectWithRetries() }
            connecting = attempt
        }
        do {
            let connected = try await attempt.value()
            if connecting === attempt { connecting = nil }
            if session == nil {
                session = connected
                if let banner = connected.authenticationBanner {
                    // As ssh prints it before authenticating (sanitised: it is the server's text).
                    diagnostics?.info(
                        "\(TerminalText.sanitized(banner))", metadata: ["host": "\(logName)", "banner": "true"])
                }
            }
            return connected
        } catch {
            // The next call tries again, unless the attempt still runs for other callers.
            if connecting === attempt, attempt.hasEnded || attempt.isAbandoned { connecting = nil }
            throw error
        }
    }

    /// The server's pre-authentication banner (sshd's `Banner`, which `ssh` prints before authenticating),
    /// connecting first; `nil` when the server sent none or the engine does not keep it (see
    /// `SSHCapability.authenticationBanner`). It never reaches a command's output; the client's logger gets it at
    /// info level when the connection is made.
    public func authenticationBanner() async throws -> String? {
        try await connectedSession().authenticationBanner
    }

    /// Runs `body` on the session, connecting first. When it fails with nothing started, it runs once more on a
    /// new connection: the connection was lost while nothing was in flight (no channel open, nothing started: the
    /// server hung up between commands and the loss was seen only now), or the server refused to open another
    /// channel on it (TinySSH serves one per connection, sshd `MaxSessions`). A loss while something ran is that
    /// call's error, never retried.
    func withSession<T>(_ body: (any SSHSession) async throws -> T) async throws -> T {
        let session = try await connectedSession()
        do {
            return try await body(session)
        } catch let error as SSHError where error.code == .connectionLost || error.code == .sessionClosed {
            guard case .lost(_, idle: true) = session.state else { throw error }
            return try await body(connectedSession())
        } catch let error as SSHError where error.code == .channelOpenRefused {
            diagnostics?.info(
                "the server refused another channel on this connection; using a new connection",
                metadata: ["host": "\(logName)", "error": "\(error)"])
            self.session = nil
            return try await body(connectedSession())
        }
    }

    /// What `ssh_config` says for this host (its files as ``HostConfig/sshConfig`` chooses; `nil` for none), with
    /// the caller's user and port winning as `ssh -l`/`-p` do.
    /// - Throws: a bad line, an unknown keyword or an unsafe file, naming file and line.
    public func resolvedConfig() async throws -> SSHResolvedConfig? {
        let source = config.sshConfig ?? .default
        guard source != .disabled else { return nil }
        do {
            return try await SSHConfigResolver.shared.resolve(
                host: host, user: config.user, port: config.port, source: source)
        } catch let error as SSHError {
            throw error.on(host: host, port: config.portOrDefault)
        }
    }

    /// How this host is reached: the caller's settings over `ssh_config` over the defaults, with its jump hosts
    /// (``HostConfig/jump``, else `ProxyJump`) each planned from their own configuration.
    func connectionPlan() async throws -> ConnectionPlan {
        if let plan { return plan }
        let resolved = try await resolvedConfig()
        var made = config.plan(host: host, sshConfig: resolved)
        let source = config.sshConfig ?? .default
        func hop(
            _ host: String, user: String?, port: Int?, settings: HostConfig,
            defaultPort: Int? = nil
        ) async throws -> SSHConnectionOptions {
            do {
                let hopConfig =
                    source == .disabled
                    ? nil
                    : try await SSHConfigResolver.shared.resolve(host: host, user: user, port: port, source: source)
                var hopSettings = settings
                (hopSettings.user, hopSettings.port, hopSettings.alias) = (user, port, nil)
                if port == nil, hopConfig?.configuredPort == nil { hopSettings.port = defaultPort }
                return hopSettings.plan(host: host, sshConfig: hopConfig).options
            } catch let error as SSHError {
                throw error.on(host: host, port: port ?? HostConfigDefault.port)
            }
        }
        var specs: [UserHostPort] = []
        do {
            switch config.jump {
            case .proxy(let proxyHost, let proxyPort, let proxyUser, let proxyPassword, let proxyKey):
                // parallel-ssh's proxy: its own credentials, each falling back to the host's.
                var settings = config
                settings.password = proxyPassword ?? config.password
                settings.privateKey = proxyKey ?? config.privateKey
                settings.jump = nil
                made.options.proxyCommand = nil
                made.options.jumpHosts = [
                    try await hop(
                        proxyHost, user: proxyUser ?? config.user, port: proxyPort,
                        settings: settings, defaultPort: made.options.port)
                ]
            case .hosts(let given):
                specs = try HostConfig.jumpSpecs(given.joined(separator: ","))
                made.options.proxyCommand = nil  // as `ssh -J` overrides both
            case nil:
                if let value = resolved?.proxyJump { specs = try HostConfig.jumpSpecs(value) }
            }
        } catch let error as SSHError {
            throw error.on(host: host, port: config.portOrDefault)
        }
        for spec in specs {
            // As `ssh -J`: a hop gets only its own credentials (its ssh_config entry, the agent, default identities),
            // never the target's password or key.
            made.options.jumpHosts.append(
                try await hop(
                    spec.host, user: spec.user, port: spec.port,
                    settings: config.withoutCredentials))
        }
        plan = made
        return made
    }

    private func connectWithRetries() async throws -> any SSHSession {
        let plan = try await connectionPlan()
        let options = plan.options
        let settings = plan.settings
        let attempts = max(1, settings.connectionAttemptsOrDefault)
        let destination = "\(options.host):\(options.port)"
        // A destination that turns connections away before its banner is tried again, paced, until this deadline
        // (the host's timeout, or 60 s without one); those tries are not connection attempts.
        let timeout = settings.timeout.flatMap { $0 > .zero ? $0 : nil } ?? HostConfigDefault.turnedAwayDeadline
        let clock = WaitClock.current
        let giveUp = clock.now + timeout
        var attempt = 1
        var turnedAway = 0
        while true {
            do {
                return try await connectOnce(options, destination: destination)
            } catch let error as SSHError where error.code == .closedBeforeBanner && clock.now < giveUp {
                turnedAway += 1
                diagnostics?.debug(
                    "turned away before the banner, trying again",
                    metadata: ["host": "\(logName)", "times": "\(turnedAway)"])
                // Jittered and growing with each refusal, so the retries of many hosts do not arrive together.
                try await clock.sleep(for: .milliseconds(Int.random(in: 20...100) * min(turnedAway, 20)))
            } catch let error as SSHError where Self.isRetryable(error) && attempt < attempts {
                diagnostics?.info(
                    "connection attempt failed, retrying",
                    metadata: ["host": "\(logName)", "attempt": "\(attempt)", "error": "\(error)"])
                attempt += 1
                try await clock.sleep(for: settings.retryDelayOrDefault)
            } catch {
                diagnostics?.warning("connection failed", metadata: ["host": "\(logName)", "error": "\(error)"])
                guard var failure = error as? SSHError else { throw error }
                if failure.isJumpHostFailure, failure.code == .authenticationFailed, !Self.hopsShareCredentials(config),
                    config.privateKey != nil || config.password != nil
                {
                    // The key or password given for this host was deliberately not offered to its hop.
                    failure.message +=
                        "; a jump host is not given the target's key or password (as with ssh -J): name its own in"
                        + " ssh_config (Host <jump host>, IdentityFile ...)"
                }
                // The wait a user saw is the attempts' and their pauses', not one timeout's: say so.
                if attempt > 1 {
                    failure.message += " (the last of \(attempt) attempts, \(settings.retryDelayOrDefault) apart)"
                }
                throw failure
            }
        }
    }

    /// One connection attempt inside the destination's window and the client's handshake limit.
    private func connectOnce(_ options: SSHConnectionOptions, destination: String) async throws -> any SSHSession {
        guard let handshakes else { return try await backend.connect(options) }
        try await handshakes.pacer.acquire(destination)
        do {
            try await handshakes.global.acquire()
        } catch {
            handshakes.pacer.release(destination, turnedAway: false, completed: false)
            throw error
        }
        defer { handshakes.global.release() }
        do {
            let connected = try await backend.connect(options)
            handshakes.pacer.release(destination, turnedAway: false, completed: true)
            diagnostics?.debug("connected", metadata: ["host": "\(logName)"])
            return connected
        } catch {
            handshakes.pacer.release(
                destination, turnedAway: (error as? SSHError)?.code == .closedBeforeBanner,
                completed: false)
            throw error
        }
    }

    /// Whether this host's hop gets its credentials: only parallel-ssh's `.proxy` route (its own, each falling back to
    /// the host's); `.hosts` and `ProxyJump` hops get none of the target's, as `ssh -J`.
    static func hopsShareCredentials(_ config: HostConfig) -> Bool {
        if case .proxy = config.jump { return true }
        return false
    }

    /// Whether another attempt may succeed: a timeout, an unreachable host, a failed handshake, a connection lost
    /// while being set up, a temporary name-resolution failure. Not a refused connection (parallel-ssh stopped
    /// retrying those too), a name that does not exist, or an authentication or key failure.
    static func isRetryable(_ error: SSHError) -> Bool {
        switch error.code {
        case .hostUnreachable, .timeout, .handshakeFailed, .connectionLost: return true
        case .unknownHost: return error.nativeCode == EAI_AGAIN
        default: return false
        }
    }

    /// Starts `command` and returns its output once it is running.
    /// - Parameters:
    ///   - command: the command line, run by the login shell.
    ///   - options: sudo, user, shell, terminal, environment, read timeout, encoding (``CommandOptions``).
    /// - Throws: `invalidArgument` for a `sudoPassword` without `sudo` or `user`.
    public func runCommand(_ command: String, options: CommandOptions = CommandOptions()) async throws -> HostOutput {
        let (sudo, user, shell, pty) = (options.sudo, options.user, options.shell, options.pty)
        let (environment, readTimeout, encoding, sudoPassword) = (
            options.environment, options.readTimeout, options.encoding, options.sudoPassword
        )
        if sudoPassword != nil && !sudo && user == nil {
            throw SSHError(
                .invalidArgument, host: host, port: config.portOrDefault,
                message: "sudoPassword answers sudo's prompt: give sudo: true or user: as well")
        }
        let line = RemoteCommandLine(
            sudo: sudo, user: user, shell: shell,
            sudoPrompt: sudoPassword == nil ? nil : SudoPrompt.marker
        ).wrap(command)
        let kind: SSHChannelRequest.Kind
        if encoding == .utf8 {
            kind = .exec(line)
        } else {
            var bytes: [UInt8]
            do { bytes = try encoded(line, encoding, host: host) } catch {
                throw error.on(host: host, port: config.portOrDefault)
            }
            kind = .execBytes(bytes)
        }
        _ = try await connectedSession()
        let sent = (plan?.environment ?? [:]).merging(environment) { _, given in given }
        let terminal = pty ?? plan?.requestTTY ?? false
        let request = SSHChannelRequest(
            kind: kind, pty: terminal ? SSHPTYRequest() : nil, environment: sent,
            unreadOutputLimit: config.unreadOutputLimit)
        let channel = try await withSession { try await $0.openChannel(request) }
        noteRefusals(channel.refusedRequests)
        var watched: (stream: SSHByteStream, isStderr: Bool)?
        if let sudoPassword {
            let answer: [UInt8]
            do { answer = try encoded(sudoPassword + "\n", encoding, host: host) } catch {
                await channel.close()
                throw error.on(host: host, port: config.portOrDefault)
            }
            let prompt = SudoPrompt(
                stream: terminal ? channel.stdout : channel.stderr, terminal: terminal,
                answer: {
                    try? await channel.write(answer)
                },
                giveUp: {
                    if terminal { try? await channel.write([4]) } else { try? await channel.sendEOF() }  // Ctrl-D: EOF
                })
            watched = (SSHByteStream(prompt), !terminal)
        }
        return HostOutput(
            host: host, alias: config.alias, index: index, command: line, channel: channel,
            port: config.portOrDefault, encoding: encoding, readTimeout: readTimeout, logger: logger,
            watched: watched)
    }

    /// Logs what the server refused without failing the channel, as `ssh -v` and `ssh` report it: refused
    /// environment variables at debug level, by name only; a refused PTY as a warning.
    private func noteRefusals(_ refused: SSHRefusedRequests) {
        if !refused.environment.isEmpty {
            diagnostics?.debug(
                "the server refused environment variables (its AcceptEnv does not list them)",
                metadata: ["host": "\(logName)", "names": "\(refused.environment.joined(separator: ","))"])
        }
        if refused.pty {
            diagnostics?.warning(
                "PTY allocation request failed: the command runs without a terminal",
                metadata: ["host": "\(logName)"])
        }
        if refused.agentForwarding {
            diagnostics?.warning(
                "agent forwarding was not set up (refused by the server, or not carried by this engine): the command runs without the agent",
                metadata: ["host": "\(logName)", "engine": "\(backend.name)"])
        }
    }

    /// Opens an interactive shell (a PTY is not requested: output stays split into stdout and stderr).
    public func openShell(encoding: String.Encoding = .utf8, readTimeout: Duration? = nil) async throws
        -> InteractiveShell
    {
        let request = SSHChannelRequest(kind: .shell, unreadOutputLimit: config.unreadOutputLimit)
        let channel = try await withSession { try await $0.openChannel(request) }
        return InteractiveShell(
            output: HostOutput(
                host: host, alias: config.alias, index: index, command: nil, channel: channel,
                port: config.portOrDefault,
                encoding: encoding, readTimeout: readTimeout, logger: logger), encoding: encoding)
    }

    /// Closes the connection (running commands end with it).
    public func disconnect() async {
        await session?.close()
        session = nil
    }
}

/// A shell on one host: send commands, read their output, get the shell's exit code after closing. As in
/// parallel-ssh, what it printed and how it ended are its ``output``'s (`shell.output.stdout`,
/// `shell.output.exitCode`).
public struct InteractiveShell: Sendable {
    /// The shell's host, output, stdin and (after ``close()``) exit code.
    public let output: HostOutput
    let encoding: String.Encoding

    /// Sends `command` followed by a newline.
    public func run(_ command: String) async throws {
        try await output.stdin.write(command + "\n")
    }

    /// Sends EOF and waits until the shell exits.
    public func close() async throws {
        try await output.stdin.close()
        try await output.waitFinished()
    }
}

/// One connection attempt shared by every caller that needs the session meanwhile.
final class ConnectAttempt: Sendable {
    private let outcome = OneShot<any SSHSession>()
    private let task: Task<Void, Never>
    private let abandoned = Mutex(false)

    /// Starts `connect` (the library's own work: on `executor`, the engine's loops, when given).
    init(executor: (any TaskExecutor)?, _ connect: @escaping @Sendable () async throws -> any SSHSession) {
        let outcome = outcome
        task = Task(executorPreference: executor) { outcome.settle(await Result(catching: { try await connect() })) }
    }

    /// Whether the attempt succeeded or failed (a cancelled waiter leaves it running for the others).
    var hasEnded: Bool { outcome.result != nil }

    /// Callers waiting for it now.
    var waiterCount: Int { outcome.waiterCount }

    /// Whether every waiter was cancelled, and the attempt with them.
    var isAbandoned: Bool { abandoned.withLock { $0 } }

    /// Waits for the session; cancelling the last waiter cancels the attempt.
    func value() async throws -> any SSHSession {
        try await outcome.value { othersWaiting in
            guard !othersWaiting else { return }
            self.abandoned.withLock { $0 = true }
            self.task.cancel()
        }
    }
}

extension Result where Failure == any Error {
    /// The result of `body`.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
