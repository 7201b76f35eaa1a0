import Foundation
import Logging
import SSHBackend
import SSHConfig
import SSHEventLoop
import Synchronization

/// Runs commands on many hosts at once, through any engine, with parallel-ssh's semantics.
///
/// ```swift
/// let client = try ParallelSSHClient(hosts: ["web1", "web2", "web2"], backend: LibSSH2Backend(),
///                                    config: HostConfig(user: "deploy", privateKey: .file("~/.ssh/id_ed25519")))
/// let output = try await client.runCommand("uname")
/// for host in output {
///     for try await line in host.stdout { print("\(host.host): \(line)") }
///     print(host.host, host.exitCode.map(String.init) ?? "no exit code")   // known once stdout has ended
/// }
/// ```
///
/// Each entry of the host list (duplicates included) has its own connection, made on first use and kept for the
/// next commands, and its own ``HostOutput`` in the same order. A host that fails (refused, unreachable, timed out,
/// wrong key) delays no other host beyond its own timeout.
public final class ParallelSSHClient: Sendable {
    /// The host list, in order.
    public let hosts: [String]
    /// How many hosts are being set up (connected, command started) at once.
    public let poolSize: Int
    let clients: [SSHClient]
    private let lastOutputs = Mutex<[HostOutput]?>(nil)
    /// The executor preference of the per-host work (the engine's loops), if any.
    private let taskExecutor: (any TaskExecutor)?

    /// Creates a client; nothing connects until the first command (or ``connect(stopOnErrors:)``).
    /// - Parameters:
    ///   - hosts: host names or addresses, in order; duplicates allowed.
    ///   - backend: the engine, e.g. `LibSSH2Backend()` or `LibSSHBackend()` (`import ParallelSSH` offers this
    ///     initialiser without it, on libssh2 as parallel-ssh's default client).
    ///   - config: the settings of every host (user, port, credentials, timeouts, attempts); see ``HostConfig``.
    ///   - hostConfig: per-host overrides, one per host list entry (same order), or `nil`.
    ///   - poolSize: hosts set up at once (default 100).
    ///   - maxConcurrentHandshakes: connections being made at once, across the pool (default 64).
    ///   - hostLogger: logs every output line read as `[host]\tline` (stderr `[host]\t[err]\tline`), e.g.
    ///     `.hostOutput()` for standard output.
    ///   - logger: the client's own diagnostics (connection attempts, retries, failures).
    /// - Throws: `SSHError` with code `invalidArgument` for a mismatched host configuration list or a value out of
    ///   range, or `invalidKey` naming a key file that is missing or unreadable (checked once per file), as
    ///   parallel-ssh's `PKeyFileError`.
    public init(
        hosts: [String], backend: any SSHBackend, config: HostConfig = HostConfig(),
        hostConfig: [HostConfig]? = nil, poolSize: Int = 100, maxConcurrentHandshakes: Int = 64,
        hostLogger: Logger? = nil, logger: Logger? = nil
    ) throws(SSHError) {
        if let hostConfig, hostConfig.count != hosts.count {
            throw SSHError(
                .invalidArgument, message: "hostConfig has \(hostConfig.count) entries for \(hosts.count) hosts")
        }
        guard poolSize > 0, maxConcurrentHandshakes > 0 else {
            throw SSHError(.invalidArgument, message: "poolSize and maxConcurrentHandshakes must be positive")
        }
        var readable = Set<String>()
        var resolved: [HostConfig] = []
        resolved.reserveCapacity(hosts.count)
        for (index, host) in hosts.enumerated() {
            resolved.append(
                try (hostConfig?[index] ?? HostConfig()).resolved(
                    over: config, host: host, backend: backend, readableFiles: &readable))
        }
        HostConfig.warnIfInsecure(resolved, hosts: hosts, logger: logger)
        let handshakes = HandshakeControl(limit: maxConcurrentHandshakes)
        // The library's own per-host work stays on the loop that woke it; not with a host logger, whose handler
        // (the caller's code, which may block) is called as lines are read.
        taskExecutor = hostLogger == nil ? backend.preferredTaskExecutor : nil
        self.hosts = hosts
        self.poolSize = poolSize
        self.clients = hosts.enumerated().map { index, host in
            SSHClient(
                host: host, index: index, backend: backend, resolved: resolved[index],
                hostLogger: hostLogger, logger: logger, handshakes: handshakes)
        }
    }

    // MARK: Commands

    /// Runs `command` on every host; returns once every host's command is running (or failed to start). Each
    /// host runs it as ``SSHClient/runCommand(_:options:)``.
    ///
    /// - Parameters:
    ///   - command: the command line, run by each host's login shell.
    ///   - options: sudo, user, shell, terminal, environment, read timeout, encoding (``CommandOptions``).
    ///   - stopOnErrors: `true` throws the first host's error (by host order) once all were tried; the outputs,
    ///     failed hosts included, stay available from ``lastOutput``. `false` returns an output for every
    ///     host, failed ones carrying ``HostOutput/error``.
    public func runCommand(
        _ command: String, options: CommandOptions = CommandOptions(), stopOnErrors: Bool = true
    ) async throws -> [HostOutput] {
        try await runCommand(options: options, stopOnErrors: stopOnErrors) { _, _ in command }
    }

    /// Runs the command `command(host, index)` returns for each host (parallel-ssh's `host_args`, as a closure).
    public func runCommand(
        options: CommandOptions = CommandOptions(), stopOnErrors: Bool = true,
        _ command: (_ host: String, _ index: Int) -> String
    ) async throws -> [HostOutput] {
        let commands = hosts.enumerated().map { command($1, $0) }
        return try await startEach(commands, stopOnErrors: stopOnErrors) { client, command in
            try await client.runCommand(command, options: options)
        }
    }

    /// Runs `body` for every host, at most ``poolSize`` at a time; results in host order.
    func forEachHost<R: Sendable>(_ body: @escaping @Sendable (SSHClient) async throws -> R) async -> [Result<
        R, any Error
    >] {
        let clients = self.clients
        var results = [Result<R, any Error>?](repeating: nil, count: clients.count)
        var next = 0
        // `completed` never throws; a host never started because the task was cancelled ends as cancelled.
        try? await BoundedRun.run(width: poolSize, executor: taskExecutor) {
            () -> (@Sendable () async -> (Int, Result<R, any Error>))? in
            guard next < clients.count else { return nil }
            let (index, client) = (next, clients[next])
            next += 1
            return {
                do { return (index, .success(try await body(client))) } catch { return (index, .failure(error)) }
            }
        } completed: { index, result in
            results[index] = result
        }
        return results.map { $0 ?? .failure(CancellationError()) }
    }

    /// Runs `command` on every host and hands over each host's output as its command finishes, in completion
    /// order:
    ///
    /// ```swift
    /// for try await host in client.run("uptime") {
    ///     for try await line in host.stdout { print("\(host.host): \(line)") }
    /// }
    /// ```
    ///
    /// A host comes once its exit status is known, its output held (up to `unreadOutputLimit` per stream) and
    /// readable; a host that could not start comes at once with its ``HostOutput/error`` (the sequence itself only
    /// throws when the calling task is cancelled); a host whose unread output reaches the limit comes then, still
    /// running: read its streams. Leaving the loop early ends the commands still running
    /// (``HostOutput/terminate(signal:)``).
    public func run(_ command: String, options: CommandOptions = CommandOptions()) -> AsyncThrowingStream<
        HostOutput, any Error
    > {
        let (stream, continuation) = AsyncThrowingStream<HostOutput, any Error>.makeStream()
        let task = Task {
            let outputs: [HostOutput]
            do { outputs = try await runCommand(command, options: options, stopOnErrors: false) } catch {
                continuation.finish(throwing: error)
                return
            }
            await withTaskGroup(of: HostOutput.self) { group in
                for output in outputs {
                    group.addTask {
                        try? await output.waitFinished()
                        return output
                    }
                }
                for await output in group { continuation.yield(output) }
            }
            if Task.isCancelled {
                for output in outputs { await output.terminate() }
                continuation.finish(throwing: CancellationError())
            } else {
                continuation.finish()
            }
        }
        continuation.onTermination = { ending in
            if case .cancelled = ending { task.cancel() }
        }
        return stream
    }

    /// Starts one command per host, at most ``poolSize`` at a time. Cancelling the calling task closes the channels
    /// already opened.
    private func startEach(
        _ commands: [String], stopOnErrors: Bool,
        start: @escaping @Sendable (SSHClient, String) async throws -> HostOutput
    ) async throws -> [HostOutput] {
        let results = await forEachHost { client in try await start(client, commands[client.index]) }
        let outputs = results.enumerated().map { index, result in
            switch result {
            case .success(let output): return output
            case .failure(let error):
                let client = clients[index]
                return HostOutput(
                    host: client.host, alias: client.config.alias, index: index,
                    port: client.config.portOrDefault, error: error)
            }
        }
        if Task.isCancelled {
            for output in outputs { await output.close() }
            throw CancellationError()
        }
        lastOutputs.withLock { $0 = outputs }
        if stopOnErrors, let failed = outputs.first(where: { $0.error != nil }), let error = failed.error {
            throw error
        }
        return outputs
    }

    /// The outputs of the last ``runCommand(_:options:stopOnErrors:)``,
    /// failed hosts included; `nil` before the first (parallel-ssh's `get_last_output()`).
    public var lastOutput: [HostOutput]? {
        lastOutputs.withLock { $0 }
    }

    // MARK: Waiting

    /// Waits for every command in `output` (default: the last run) to finish; kills nothing.
    ///
    /// Output nobody reads is gathered meanwhile and stays readable after `join`, up to the hosts'
    /// ``HostConfig/unreadOutputLimit`` per stream (16 MiB by default): a command that writes more than that
    /// without a reader would otherwise block on its output for ever. Such a host fails the join (the other hosts
    /// are still waited for) with `outputLimitExceeded` naming it; its command keeps running, and reading its
    /// streams lets it go on.
    /// - Parameters:
    ///   - output: the outputs to wait for (default: those of the last run).
    ///   - timeout: for all hosts together; when it passes, ``JoinTimeoutError`` lists finished and unfinished
    ///     hosts, and the commands keep running.
    ///   - consumeOutput: read (and so log, with a host logger) and discard every remaining line; no limit applies.
    /// - Throws: ``JoinTimeoutError``; the first host's `SSHError` (by host order) with code `outputLimitExceeded`
    ///   once every other host finished; `CancellationError` when the calling task is cancelled, after closing
    ///   the channels of the commands still running (the commands get EOF, and a hang-up with a PTY).
    public func join(_ output: [HostOutput]? = nil, timeout: Duration? = nil, consumeOutput: Bool = false) async throws
    {
        guard let outputs = output ?? lastOutput else { return }
        defer {
            if Task.isCancelled {
                let unfinished = outputs.filter { !$0.isFinished }
                Task { for host in unfinished { await host.close() } }
            }
        }
        try Task.checkCancellation()
        let taskExecutor = self.taskExecutor
        /// Waits for every host; returns the hosts whose wait failed, by position.
        let waitAll: @Sendable () async -> [Int: any Error] = {
            // Gathered on the loops too: each host's end reaches this loop with no hop through Swift's pool. The
            // group's child tasks inherit the preference.
            await withTaskExecutorPreference(taskExecutor) {
                await withTaskGroup(of: (Int, (any Error)?).self) { group in
                    for (position, host) in outputs.enumerated() where host.error == nil {
                        group.addTask {
                            if consumeOutput {
                                async let out: Void = Self.drain(host.stdout)
                                async let err: Void = Self.drain(host.stderr)
                                _ = await (out, err)
                            }
                            do { try await host.waitFinished() } catch is CancellationError {} catch {
                                return (position, error)
                            }
                            return (position, nil)
                        }
                    }
                    var failures: [Int: any Error] = [:]
                    for await case (let position, let error?) in group { failures[position] = error }
                    return failures
                }
            }
        }
        var failures: [Int: any Error]?
        if let timeout {
            let clock = WaitClock.current
            failures = await withTaskGroup(of: [Int: any Error]?.self) { group in
                group.addTask { await waitAll() }
                group.addTask {
                    try? await clock.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        } else {
            failures = await waitAll()
        }
        try Task.checkCancellation()
        if let timeout, failures == nil && !outputs.allSatisfy(\.isFinished) {
            throw JoinTimeoutError(
                timeout: timeout, finished: outputs.filter(\.isFinished),
                unfinished: outputs.filter { !$0.isFinished })
        }
        if let first = failures?.min(by: { $0.key < $1.key }) { throw first.value }
    }

    private static func drain(_ lines: HostLines) async {
        _ = try? await lines.drain()
    }

    /// Whether every command in `output` (default: the last run) finished. Never blocks; failed hosts count as
    /// finished, and so does "nothing was run".
    public func isFinished(_ output: [HostOutput]? = nil) -> Bool {
        (output ?? lastOutput ?? []).allSatisfy(\.isFinished)
    }

    // MARK: Connections

    /// What `ssh_config` says for the host at `index` of the host list (`nil` when the client reads no file), as
    /// `ssh -G` evaluates it: see `SSHResolvedConfig.sshG` for its lines in that form.
    /// - Throws: a bad line, an unknown keyword or an unsafe file, naming file and line.
    public func resolvedConfig(at index: Int) async throws -> SSHResolvedConfig? {
        try await clients[index].resolvedConfig()
    }

    /// Connects and authenticates every host now (at most ``poolSize`` at a time).
    /// - Returns: each host's error, `nil` where it connected (with `stopOnErrors: false`).
    /// - Throws: the first host's error, by host order, with `stopOnErrors: true`.
    @discardableResult
    public func connect(stopOnErrors: Bool = true) async throws -> [SSHError?] {
        let errors: [SSHError?] = await forEachHost { try await $0.connect() }.enumerated().map { index, result in
            if case .failure(let error) = result {
                return SSHError(error, host: clients[index].host, port: clients[index].config.portOrDefault)
            }
            return nil
        }
        try Task.checkCancellation()  // a cancelled caller learns it as such, not as hosts failed with .cancelled
        if stopOnErrors, let error = errors.compactMap({ $0 }).first { throw error }
        return errors
    }

    /// Closes every connection.
    public func disconnect() async {
        let clients = clients
        await withTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask(executorPreference: taskExecutor) { await client.disconnect() } }
        }
    }

    // MARK: Shells

    /// Opens one interactive shell per host, in host order.
    /// - Throws: the first host's error (shells already opened are closed).
    public func openShell(encoding: String.Encoding = .utf8, readTimeout: Duration? = nil) async throws
        -> [InteractiveShell]
    {
        let shells = Mutex<[Int: InteractiveShell]>([:])
        let outputs = try await startEach(hosts, stopOnErrors: false) { client, _ in
            let shell = try await client.openShell(encoding: encoding, readTimeout: readTimeout)
            shells.withLock { $0[client.index] = shell }
            return shell.output
        }
        let opened = shells.withLock { $0 }
        if let failed = outputs.first(where: { $0.error != nil }), let error = failed.error {
            for shell in opened.values { await shell.output.close() }
            throw error
        }
        return outputs.indices.map { opened[$0]! }
    }

    /// Sends `commands` (each followed by a newline) to every shell, all shells at once.
    public func runShellCommands(_ shells: [InteractiveShell], _ commands: [String]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for shell in shells {
                group.addTask { for command in commands { try await shell.run(command) } }
            }
            try await group.waitForAll()
        }
    }

    /// Closes every shell (EOF) and waits until each exits; their exit codes are then set.
    /// - Throws: ``JoinTimeoutError`` when `timeout` passes first.
    public func join(_ shells: [InteractiveShell], timeout: Duration? = nil) async throws {
        for shell in shells { try? await shell.output.stdin.close() }
        try await join(shells.map(\.output), timeout: timeout)
    }
}

/// ``ParallelSSHClient/join(_:timeout:consumeOutput:)`` ran out of time. Nothing was killed.
public struct JoinTimeoutError: Error, CustomStringConvertible {
    /// The timeout that passed.
    public let timeout: Duration
    /// Hosts whose commands finished.
    public let finished: [HostOutput]
    /// Hosts whose commands still run.
    public let unfinished: [HostOutput]

    public var description: String {
        "timeout of \(timeout) reached with \(unfinished.count) command(s) still running on "
            + unfinished.map { $0.alias ?? $0.host }.joined(separator: ", ")
            + " (\(finished.count) finished)"
    }
}
