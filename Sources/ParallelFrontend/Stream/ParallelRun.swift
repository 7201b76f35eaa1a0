import Foundation
import Logging
import SSHBackend

/// One host of a streaming run: its name and what its settings change (over the run's configuration).
public struct HostTarget: Sendable {
    /// The host name, address or `ssh_config` alias.
    public var host: String
    /// Settings for this host only (its user and port from a `user@host:port` entry, say); `nil` fields fall back
    /// to the run's configuration.
    public var config: HostConfig

    /// A target with its own settings.
    public init(_ host: String, config: HostConfig = HostConfig()) {
        self.host = host
        self.config = config
    }
}

/// What one host of a streaming run came to.
public struct HostRun<Value: Sendable>: Sendable {
    /// The host's position in the sequence the run was given.
    public let index: Int
    /// The host as given.
    public let target: HostTarget
    /// The body's value, or why the host failed (its settings, connecting, or the body's own error).
    public let result: Result<Value, any Error>
    /// When the host's turn started (wall clock).
    public let started: Date
    /// How long the host took, connection included.
    public let duration: Duration
}

/// Runs work on any number of hosts with bounded concurrency, holding only the hosts in flight: each host gets
/// its own ``SSHClient``, which `perform` uses (a command, a copy, anything), and whose connection is closed as
/// soon as `perform` returns; each result goes to `completed` as it comes, in completion order, and the next host
/// starts only once `completed` has taken it. Memory and open files are bounded by `concurrency`, not by the
/// number of hosts, so a run can go far past the open-file limit (parallel-ssh's issue 311).
///
/// ```swift
/// try await ParallelRun.forEachHost(hosts.lazy.map { HostTarget($0) }, backend: LibSSH2Backend(),
///                                   config: HostConfig(user: "deploy"), concurrency: 500) { client in
///     let output = try await client.runCommand("uptime")
///     try await output.waitFinished()
///     return output.exitCode
/// } completed: { run in
///     print(run.target.host, run.result)
/// }
/// ```
public enum ParallelRun {
    /// Runs `perform` for every target of `targets`, at most `concurrency` at once (connection handshakes at most
    /// `maxConcurrentHandshakes`), and hands each host's outcome to `completed`.
    /// - Parameters:
    ///   - targets: the hosts, read lazily (a sequence of any length).
    ///   - backend: the engine.
    ///   - config: settings for every host; each target's own settings override it.
    ///   - concurrency: hosts in flight at most.
    ///   - maxConcurrentHandshakes: connections being set up at most.
    ///   - logger: the clients' diagnostics.
    ///   - perform: the work on one host; its client connects on first use and is disconnected after.
    ///   - completed: receives each host's outcome, one at a time (a thrown error stops the run: hosts in flight are
    ///     cancelled and the error is rethrown). When the calling task is cancelled, the hosts in flight end with
    ///     `CancellationError` (each still handed to `completed`) and no further host starts.
    /// - Throws: `invalidArgument` for a concurrency below 1, or what `completed` throws.
    public static func forEachHost<Targets: Sequence, Value: Sendable>(
        _ targets: Targets, backend: any SSHBackend, config: HostConfig = HostConfig(), concurrency: Int = 100,
        maxConcurrentHandshakes: Int = 64, logger: Logger? = nil,
        perform: @escaping @Sendable (SSHClient) async throws -> Value,
        completed: (HostRun<Value>) async throws -> Void
    ) async throws where Targets.Element == HostTarget {
        guard concurrency > 0, maxConcurrentHandshakes > 0 else {
            throw SSHError(.invalidArgument, message: "concurrency and maxConcurrentHandshakes must be positive")
        }
        let handshakes = HandshakeControl(limit: maxConcurrentHandshakes)
        var readable = Set<String>()
        var iterator = targets.enumerated().makeIterator()
        try await BoundedRun.run(width: concurrency) { () -> (@Sendable () async -> HostRun<Value>)? in
            guard let (index, target) = iterator.next() else { return nil }
            let started = Date()
            let clock = ContinuousClock.now
            let client: SSHClient
            do {
                let resolved = try target.config.resolved(
                    over: config, host: target.host, backend: backend, readableFiles: &readable)
                client = SSHClient(
                    host: target.host, index: index, backend: backend, resolved: resolved,
                    hostLogger: nil, logger: logger, handshakes: handshakes)
            } catch {
                let failed = HostRun<Value>(
                    index: index, target: target, result: .failure(error), started: started,
                    duration: ContinuousClock.now - clock)
                return { failed }
            }
            return {
                let result: Result<Value, any Error>
                do { result = .success(try await perform(client)) } catch { result = .failure(error) }
                await client.disconnect()
                return HostRun(
                    index: index, target: target, result: result, started: started,
                    duration: ContinuousClock.now - clock)
            }
        } completed: { run in
            try await completed(run)
        }
    }
}
