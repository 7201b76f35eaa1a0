import Foundation
import Logging
import SSHBackend
import Synchronization

/// Runs commands on many hosts at once, through any engine, with parallel-ssh's semantics.
///
/// ```swift
/// let client = try ParallelSSHClient(hosts: ["web1", "web2", "web2"], backend: LibSSH2Backend(),
///                                    user: "deploy", privateKey: .file("~/.ssh/id_ed25519"))
/// let output = try await client.runCommand("uname")
/// for host in output {
///     for try await line in host.stdout! { print("\(host.host): \(line)") }
/// }
/// try await client.join(output, timeout: .seconds(30))
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
    private let lastOutput = Mutex<[HostOutput]?>(nil)

    /// Creates a client; nothing connects until the first command (or ``connectAuth(stopOnErrors:)``).
    /// - Parameters:
    ///   - hosts: host names or addresses, in order; duplicates allowed.
    ///   - backend: the engine, e.g. `LibSSH2Backend()` or `LibSSHBackend()`.
    ///   - user: the login name (default: the local user).
    ///   - password: for password authentication (and keyboard-interactive with `keyboardInteractive`).
    ///   - port: the SSH port (default 22).
    ///   - privateKey: a key file or key text to authenticate with, tried first.
    ///   - retries: connection attempts after the first, for transport failures.
    ///   - retryDelay: the pause between two attempts.
    ///   - timeout: per host and per step: TCP connect, handshake, authentication, channel open.
    ///   - poolSize: hosts set up at once (default 100).
    ///   - maxConcurrentHandshakes: connections being made at once, across the pool (default 64).
    ///   - allowAgent: try the keys of the SSH agent (`SSH_AUTH_SOCK`).
    ///   - identityAuth: try the default identity files (`~/.ssh/id_rsa`, `id_ecdsa`, `id_ed25519`).
    ///   - keepalive: the interval of SSH keepalive messages, or `nil` for none.
    ///   - compression: ask for zlib compression.
    ///   - ipv6Only: connect over IPv6 only.
    ///   - keyboardInteractive: answer keyboard-interactive prompts with `password`.
    ///   - hostConfig: per-host overrides, one per host list entry (same order), or `nil`.
    ///   - hostLogger: logs every output line read as `[host]\tline` (stderr `[host]\t[err]\tline`).
    ///   - logger: the client's own diagnostics (connection attempts, retries, failures).
    /// - Throws: `SSHError` with code `invalidArgument` for a mismatched host configuration list, a timeout that is
    ///   not positive, or keyboard-interactive authentication without a password.
    public init(hosts: [String], backend: any SSHBackend, user: String? = nil, password: String? = nil,
                port: Int? = nil, privateKey: PrivateKey? = nil, retries: Int = 3, retryDelay: Duration = .seconds(5),
                timeout: Duration = .seconds(60), poolSize: Int = 100, maxConcurrentHandshakes: Int = 64,
                allowAgent: Bool = true, identityAuth: Bool = true, keepalive: Duration? = nil,
                compression: Bool = false, ipv6Only: Bool = false, keyboardInteractive: Bool = false,
                hostConfig: [HostConfig]? = nil, hostLogger: Logger? = nil, logger: Logger? = nil) throws(SSHError) {
        if let hostConfig, hostConfig.count != hosts.count {
            throw SSHError(.invalidArgument, host: "", port: 0,
                           message: "hostConfig has \(hostConfig.count) entries for \(hosts.count) hosts")
        }
        guard poolSize > 0, maxConcurrentHandshakes > 0, retries >= 0 else {
            throw SSHError(.invalidArgument, host: "", port: 0,
                           message: "poolSize and maxConcurrentHandshakes must be positive, retries not negative")
        }
        let defaults = HostConfig(
            user: user, port: port, password: password, privateKey: privateKey, retries: retries,
            retryDelay: retryDelay, timeout: timeout, allowAgent: allowAgent, identityAuth: identityAuth,
            keepalive: keepalive, compression: compression, ipv6Only: ipv6Only, keyboardInteractive: keyboardInteractive)
        let configs = hosts.indices.map { (hostConfig?[$0] ?? HostConfig()).merged(over: defaults) }
        for (index, config) in configs.enumerated() {
            if config.keyboardInteractive == true && config.password == nil {
                throw SSHError(.invalidArgument, host: hosts[index], port: config.port ?? 22,
                               message: "keyboardInteractive needs a password to answer the prompts with")
            }
            if let timeout = config.timeout, timeout <= .zero {
                throw SSHError(.invalidArgument, host: hosts[index], port: config.port ?? 22,
                               message: "timeout must be positive (got \(timeout))")
            }
        }
        let handshakes = AsyncLimiter(limit: maxConcurrentHandshakes)
        self.hosts = hosts
        self.poolSize = poolSize
        self.clients = hosts.enumerated().map { index, host in
            SSHClient(host: host, index: index, backend: backend, config: configs[index],
                      hostLogger: hostLogger, logger: logger, handshakes: handshakes)
        }
    }

    // MARK: Commands

    /// Runs `command` on every host; returns once every host's command is running (or failed to start). Each
    /// host runs it as ``SSHClient/runCommand(_:sudo:user:shell:pty:environment:readTimeout:encoding:sudoPassword:)``.
    ///
    /// - Parameters:
    ///   - hostArgs: per-host arguments for `%s` placeholders in `command`, one list per host (extra lists are
    ///     ignored; fewer is an error raised before anything starts).
    ///   - stopOnErrors: `true` throws the first host's error (by host order) once all were tried; the outputs,
    ///     failed hosts included, stay available from ``getLastOutput()``. `false` returns an output for every
    ///     host, failed ones carrying ``HostOutput/error``.
    ///   - command: the command line; `%s` placeholders take `hostArgs`.
    ///   - sudo: run through `sudo -S`.
    ///   - user: run as this user (`sudo -u <user> -S`).
    ///   - shell: the shell that runs the command, e.g. `"bash -c"`.
    ///   - pty: allocate a pseudo-terminal (stderr then arrives merged into stdout).
    ///   - environment: variables sent before the command (the server keeps those its `AcceptEnv` allows).
    ///   - readTimeout: a deadline for each pass over a host's stdout or stderr; reading again resumes.
    ///   - encoding: how output lines are decoded and stdin text encoded.
    ///   - sudoPassword: written to stdin once the command runs, for sudo's prompt.
    public func runCommand(
        _ command: String, sudo: Bool = false, user: String? = nil, shell: String? = nil, pty: Bool = false,
        environment: [String: String] = [:], hostArgs: [[String]]? = nil, stopOnErrors: Bool = true,
        readTimeout: Duration? = nil, encoding: String.Encoding = .utf8, sudoPassword: String? = nil
    ) async throws -> [HostOutput] {
        var commands: [String] = []
        if let hostArgs {
            guard hostArgs.count >= hosts.count else {
                throw SSHError(.invalidArgument, host: "", port: 0,
                               message: "hostArgs has \(hostArgs.count) entries for \(hosts.count) hosts")
            }
            for (index, host) in hosts.enumerated() {
                commands.append(try CommandTemplate.fill(command, with: hostArgs[index], host: host))
            }
        } else {
            commands = Array(repeating: command, count: hosts.count)
        }
        return try await run(commands, stopOnErrors: stopOnErrors) { client, command in
            try await client.runCommand(command, sudo: sudo, user: user, shell: shell, pty: pty,
                                        environment: environment, readTimeout: readTimeout, encoding: encoding,
                                        sudoPassword: sudoPassword)
        }
    }

    /// Runs the command `command(host, index)` returns for each host (the closure form of `hostArgs`).
    public func runCommand(
        sudo: Bool = false, user: String? = nil, shell: String? = nil, pty: Bool = false,
        environment: [String: String] = [:], stopOnErrors: Bool = true, readTimeout: Duration? = nil,
        encoding: String.Encoding = .utf8, _ command: (_ host: String, _ index: Int) -> String
    ) async throws -> [HostOutput] {
        let commands = hosts.enumerated().map { command($1, $0) }
        return try await run(commands, stopOnErrors: stopOnErrors) { client, command in
            try await client.runCommand(command, sudo: sudo, user: user, shell: shell, pty: pty,
                                        environment: environment, readTimeout: readTimeout, encoding: encoding)
        }
    }

    /// Runs `body` for every host, at most ``poolSize`` at a time; results in host order.
    func forEachHost<R: Sendable>(_ body: @escaping @Sendable (SSHClient) async throws -> R) async -> [Result<R, any Error>] {
        let clients = self.clients
        var results = [Result<R, any Error>?](repeating: nil, count: clients.count)
        await withTaskGroup(of: (Int, Result<R, any Error>).self) { group in
            var next = 0
            func startNext() {
                guard next < clients.count else { return }
                let index = next
                next += 1
                let client = clients[index]
                group.addTask {
                    do { return (index, .success(try await body(client))) } catch { return (index, .failure(error)) }
                }
            }
            for _ in 0..<min(poolSize, clients.count) { startNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                startNext()
            }
        }
        return results.map { $0! }
    }

    /// Starts one command per host, at most ``poolSize`` at a time. Cancelling the calling task closes the channels
    /// already opened.
    private func run(_ commands: [String], stopOnErrors: Bool,
                     start: @escaping @Sendable (SSHClient, String) async throws -> HostOutput) async throws -> [HostOutput] {
        let results = await forEachHost { client in try await start(client, commands[client.index]) }
        let outputs = results.enumerated().map { index, result in
            switch result {
            case .success(let output): return output
            case .failure(let error):
                return HostOutput(host: clients[index].host, alias: clients[index].config.alias, index: index, error: error)
            }
        }
        if Task.isCancelled {
            for output in outputs { await output.close() }
            throw CancellationError()
        }
        lastOutput.withLock { $0 = outputs }
        if stopOnErrors, let failed = outputs.first(where: { $0.error != nil }), let error = failed.error {
            throw error
        }
        return outputs
    }

    /// The outputs of the last ``runCommand(_:sudo:user:shell:pty:environment:hostArgs:stopOnErrors:readTimeout:encoding:sudoPassword:)``,
    /// failed hosts included; `nil` before the first.
    public func getLastOutput() -> [HostOutput]? {
        lastOutput.withLock { $0 }
    }

    // MARK: Waiting

    /// Waits for every command in `output` (default: the last run) to finish; kills nothing.
    /// - Parameters:
    ///   - output: the outputs to wait for (default: those of the last run).
    ///   - timeout: for all hosts together; when it passes, ``JoinTimeoutError`` lists finished and unfinished
    ///     hosts, and the commands keep running.
    ///   - consumeOutput: read (and so log, with a host logger) every remaining line. Without it, output stays
    ///     available for reading after `join`, up to the engine's per-stream buffer: a command that writes more
    ///     than that waits for a reader, so read it, or join with `consumeOutput: true`.
    /// - Throws: `CancellationError` when the calling task is cancelled; the channels of the commands still
    ///   running are closed then (the commands get EOF, and a hang-up with a PTY).
    public func join(_ output: [HostOutput]? = nil, timeout: Duration? = nil, consumeOutput: Bool = false) async throws {
        guard let outputs = output ?? getLastOutput() else { return }
        defer {
            if Task.isCancelled {
                let unfinished = outputs.filter { !$0.isFinished }
                Task { for host in unfinished { await host.close() } }
            }
        }
        try Task.checkCancellation()
        let waitAll: @Sendable () async -> Void = {
            await withTaskGroup(of: Void.self) { group in
                for host in outputs where host.error == nil {
                    group.addTask {
                        if consumeOutput {
                            async let out: Void = Self.drain(host.stdout)
                            async let err: Void = Self.drain(host.stderr)
                            _ = await (out, err)
                        }
                        await host.waitFinished()
                    }
                }
            }
        }
        guard let timeout else {
            await waitAll()
            try Task.checkCancellation()
            return
        }
        let completed = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await waitAll()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        try Task.checkCancellation()
        if !completed && !outputs.allSatisfy(\.isFinished) {
            throw JoinTimeoutError(timeout: timeout, finished: outputs.filter(\.isFinished),
                                   unfinished: outputs.filter { !$0.isFinished })
        }
    }

    private static func drain(_ lines: HostLines?) async {
        _ = try? await lines?.drain()
    }

    /// Whether every command in `output` (default: the last run) finished. Never blocks; failed hosts count as
    /// finished, and so does "nothing was run".
    public func finished(_ output: [HostOutput]? = nil) -> Bool {
        (output ?? getLastOutput() ?? []).allSatisfy(\.isFinished)
    }

    // MARK: Connections

    /// Connects and authenticates every host now (at most ``poolSize`` at a time).
    /// - Returns: each host's error, `nil` where it connected (with `stopOnErrors: false`).
    /// - Throws: the first host's error, by host order, with `stopOnErrors: true`.
    @discardableResult
    public func connectAuth(stopOnErrors: Bool = true) async throws -> [(any Error)?] {
        let errors: [(any Error)?] = await forEachHost { try await $0.connect() }.map { result in
            if case .failure(let error) = result { return error }
            return nil
        }
        if stopOnErrors, let error = errors.compactMap({ $0 }).first { throw error }
        return errors
    }

    /// Closes every connection.
    public func disconnect() async {
        for client in clients { await client.disconnect() }
    }

    // MARK: Shells

    /// Opens one interactive shell per host, in host order.
    /// - Throws: the first host's error (shells already opened are closed).
    public func openShell(encoding: String.Encoding = .utf8, readTimeout: Duration? = nil) async throws -> [InteractiveShell] {
        let shells = Mutex<[Int: InteractiveShell]>([:])
        let outputs = try await run(hosts, stopOnErrors: false) { client, _ in
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
    public func joinShells(_ shells: [InteractiveShell], timeout: Duration? = nil) async throws {
        for shell in shells { try? await shell.output.stdin?.close() }
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
