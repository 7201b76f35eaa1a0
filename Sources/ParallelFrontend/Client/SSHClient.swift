import Foundation
import Logging
import SSHBackend
import SSHEventLoop
import Synchronization

/// One host: connects (with retries) on first use, runs commands and opens shells on that one connection.
///
/// ```swift
/// let client = SSHClient(host: "web1", backend: LibSSH2Backend(), config: HostConfig(user: "deploy"))
/// let output = try await client.runCommand("uptime")
/// for try await line in output.stdout! { print(line) }
/// ```
public actor SSHClient {
    /// The host name.
    public nonisolated let host: String
    /// The position in a parallel client's host list (0 for a standalone client).
    public nonisolated let index: Int
    /// The effective settings.
    public nonisolated let config: HostConfig
    private let backend: any SSHBackend
    private let logger: Logger?
    private let diagnostics: Logger?
    private let handshakes: AsyncLimiter?
    private var session: (any SSHSession)?
    /// The connection being made, shared by every caller that needs it meanwhile (the actor is reentrant).
    private var connecting: ConnectAttempt?

    /// Creates a client for `host`; nothing connects until the first command (or ``connect()``).
    /// - Parameters:
    ///   - host: the host name or address.
    ///   - backend: the engine, e.g. `LibSSH2Backend()` or `LibSSHBackend()`.
    ///   - config: the connection settings (user, port, credentials, timeouts, retries).
    ///   - hostLogger: logs every output line read as `[host]\tline` (stderr `[host]\t[err]\tline`).
    ///   - logger: the client's own diagnostics (connection attempts, retries, failures).
    public init(host: String, backend: any SSHBackend, config: HostConfig = HostConfig(), hostLogger: Logger? = nil,
                logger: Logger? = nil) {
        self.init(host: host, index: 0, backend: backend, config: config, hostLogger: hostLogger, logger: logger,
                  handshakes: nil)
    }

    init(host: String, index: Int, backend: any SSHBackend, config: HostConfig, hostLogger: Logger?, logger: Logger?,
         handshakes: AsyncLimiter?) {
        self.host = host
        self.index = index
        self.config = config
        self.backend = backend
        self.logger = hostLogger
        self.diagnostics = logger
        self.handshakes = handshakes
    }

    /// Connects and authenticates now, retrying transport failures `retries` times, `retryDelay` apart.
    /// Authentication and key errors are not retried: they would fail the same way again.
    public func connect() async throws {
        _ = try await connectedSession()
    }

    /// The session, connecting first if needed. Concurrent callers share one attempt (the actor is reentrant); a
    /// caller whose task is cancelled stops waiting, and the attempt itself is cancelled only when no caller is
    /// left waiting for it. A failed attempt is retried by the next call.
    func connectedSession() async throws -> any SSHSession {
        if let session { return session }
        let attempt: ConnectAttempt
        if let connecting {
            attempt = connecting
        } else {
            attempt = ConnectAttempt { try await self.connectWithRetries() }
            connecting = attempt
        }
        do {
            let connected = try await attempt.value()
            if connecting === attempt { connecting = nil }
            if session == nil { session = connected }
            return connected
        } catch {
            // The next call tries again, unless the attempt still runs for other callers.
            if connecting === attempt, attempt.hasEnded || attempt.isAbandoned { connecting = nil }
            throw error
        }
    }

    private func connectWithRetries() async throws -> any SSHSession {
        let options = config.connectionOptions(host: host)
        let attempts = max(0, config.retries ?? 3) + 1
        var attempt = 1
        while true {
            do {
                try await handshakes?.acquire()
                let connected: any SSHSession
                do {
                    connected = try await backend.connect(options)
                    handshakes?.release()
                } catch {
                    handshakes?.release()
                    throw error
                }
                diagnostics?.debug("connected", metadata: ["host": "\(host)", "attempt": "\(attempt)"])
                return connected
            } catch let error as SSHError where Self.isRetryable(error) && attempt < attempts {
                diagnostics?.info("connection attempt failed, retrying",
                                  metadata: ["host": "\(host)", "attempt": "\(attempt)", "error": "\(error)"])
                attempt += 1
                try await Task.sleep(for: config.retryDelay ?? .seconds(5))
            } catch {
                diagnostics?.warning("connection failed", metadata: ["host": "\(host)", "error": "\(error)"])
                throw error
            }
        }
    }

    private static func isRetryable(_ error: SSHError) -> Bool {
        [.connectionRefused, .hostUnreachable, .timeout, .handshakeFailed, .connectionLost].contains(error.code)
    }

    /// Starts `command` and returns its output once it is running.
    /// - Parameters:
    ///   - command: the command line, run by the login shell.
    ///   - sudo: run through `sudo -S` (write the password to ``HostOutput/stdin`` if sudo asks, or pass
    ///     `sudoPassword`).
    ///   - user: run as this user (`sudo -u <user> -S`).
    ///   - shell: the shell that runs the command, e.g. `"bash -c"` (default `$SHELL -c` when wrapping).
    ///   - pty: allocate a pseudo-terminal (stderr then arrives merged into stdout).
    ///   - environment: variables sent before the command (the server keeps those its `AcceptEnv` allows).
    ///   - readTimeout: a deadline for each pass over ``HostOutput/stdout`` or `stderr`; reading again resumes.
    ///   - encoding: how output lines are decoded and stdin text encoded.
    ///   - sudoPassword: written to stdin once the command runs, for sudo's prompt.
    public func runCommand(_ command: String, sudo: Bool = false, user: String? = nil, shell: String? = nil,
                           pty: Bool = false, environment: [String: String] = [:], readTimeout: Duration? = nil,
                           encoding: String.Encoding = .utf8, sudoPassword: String? = nil) async throws -> HostOutput {
        let line = CommandLine(sudo: sudo, user: user, shell: shell).wrap(command)
        let session = try await connectedSession()
        let channel = try await session.openChannel(SSHChannelRequest(
            kind: .exec(line), pty: pty ? SSHPTYRequest() : nil, environment: environment))
        let output = HostOutput(host: host, alias: config.alias, index: index, command: line, channel: channel,
                                port: config.port ?? 22, encoding: encoding, readTimeout: readTimeout, logger: logger)
        if let sudoPassword { try await output.stdin?.write(sudoPassword + "\n") }
        return output
    }

    /// Opens an interactive shell (a PTY is not requested: output stays split into stdout and stderr).
    public func openShell(encoding: String.Encoding = .utf8, readTimeout: Duration? = nil) async throws -> InteractiveShell {
        let session = try await connectedSession()
        let channel = try await session.openChannel(.shell)
        return InteractiveShell(output: HostOutput(
            host: host, alias: config.alias, index: index, command: nil, channel: channel, port: config.port ?? 22,
            encoding: encoding, readTimeout: readTimeout, logger: logger), encoding: encoding)
    }

    /// Closes the connection (running commands end with it).
    public func disconnect() async {
        await session?.close()
        session = nil
    }
}

/// A shell on one host: send commands, read their output, get the shell's exit code after closing.
public struct InteractiveShell: Sendable {
    /// The shell's output, stdin and (after ``close()``) exit code.
    public let output: HostOutput
    let encoding: String.Encoding

    /// The host.
    public var host: String { output.host }
    /// stdout lines.
    public var stdout: HostLines { output.stdout! }
    /// stderr lines.
    public var stderr: HostLines { output.stderr! }
    /// The exit code of the shell (its last command), once closed.
    public var exitCode: Int32? { output.exitCode }

    /// Sends `command` followed by a newline.
    public func run(_ command: String) async throws {
        try await output.stdin?.write(command + "\n")
    }

    /// Sends EOF and waits until the shell exits.
    public func close() async throws {
        try await output.stdin?.close()
        await output.waitFinished()
    }
}

/// One connection attempt shared by every caller that needs the session meanwhile.
final class ConnectAttempt: Sendable {
    private let outcome = OneShot<any SSHSession>()
    private let task: Task<Void, Never>
    private let abandoned = Mutex(false)

    /// Starts `connect`.
    init(_ connect: @escaping @Sendable () async throws -> any SSHSession) {
        let outcome = outcome
        task = Task { outcome.settle(await Result(catching: { try await connect() })) }
    }

    /// Whether the attempt succeeded or failed (a cancelled waiter leaves it running for the others).
    var hasEnded: Bool { outcome.result != nil }

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
