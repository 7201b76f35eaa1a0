import BackendLibSSH
import BackendLibSSH2
import Foundation
import Logging
import ParallelFrontend
import SSHBackend

/// The engine a run uses.
public enum EngineChoice: String, Sendable, CaseIterable {
    /// libssh2 (the default).
    case libssh2
    /// libssh.
    case libssh

    /// The engine's backend.
    public var backend: any SSHBackend {
        switch self {
        case .libssh2: LibSSH2Backend()
        case .libssh: LibSSHBackend()
        }
    }
}

/// Everything a `fleetsh run` does besides choosing hosts and printing.
public struct RunSettings: Sendable {
    /// The command line, run by each host's login shell.
    public var command: String
    /// The engine.
    public var engine: EngineChoice = .libssh2
    /// Connection settings for every host (each entry's user and port override them).
    public var config = HostConfig()
    /// Hosts in flight at most.
    public var concurrency = 100
    /// A deadline for each host's command (connection included); `nil` for none.
    public var commandTimeout: Duration?
    /// Run through `sudo`.
    public var sudo = false
    /// Ask for a terminal (`nil`: as `RequestTTY` in ssh_config says).
    public var pty: Bool?
    /// Bytes sent to every host's stdin, then EOF (`nil`: EOF at once, as `ssh -n`).
    public var input: [UInt8]?
    /// Bytes of each stream kept per host for the report (the rest is counted, not kept).
    public var keepLimit = 1 << 20
    /// Failures with the error's code name and native detail (`-v`), not only in words.
    public var verbose = false
    /// The client's own diagnostics (`-vv`), or `nil`.
    public var diagnostics: Logger?

    /// Settings for `command`.
    public init(command: String) { self.command = command }
}

/// Runs a command on every host with bounded concurrency (``ParallelRun``), streaming each line to `output` as it
/// arrives when the mode wants lines, and handing each host's ``HostReport`` to it as the host completes.
public enum FleetRun {
    /// Runs `settings` on `hosts`; returns the reports in completion order. `progress` follows each host.
    public static func run(
        _ settings: RunSettings, on hosts: [HostEntry], output: any OutputMode,
        progress: Progress? = nil
    ) async throws -> [HostReport] {
        var reports: [HostReport] = []
        reports.reserveCapacity(hosts.count)
        let names = hosts.map(\.name)
        try await ParallelRun.forEachHost(
            hosts.lazy.map(\.target), backend: settings.engine.backend,
            config: settings.config, concurrency: settings.concurrency, logger: settings.diagnostics
        ) { client in
            progress?.started(names[client.index])
            return try await runOne(settings, client: client, name: names[client.index], output: output)
        } completed: { run in
            let report: HostReport
            switch run.result {
            case .success(let made):
                report = made.with(started: run.started, duration: run.duration)
            case .failure(let error):
                report = HostReport(
                    host: run.target.config.alias ?? run.target.host, exitStatus: nil, signal: nil,
                    stdout: "", stderr: "",
                    error: HostReport.Failure(error, entry: names[run.index], verbose: settings.verbose),
                    started: HostReport.timestamp(run.started), duration: run.duration.seconds)
            }
            reports.append(report)
            progress?.finished(report)
            output.hostFinished(report)
        }
        return reports
    }

    /// One host: start the command, feed stdin, read both streams (streaming lines if asked), wait for the exit.
    private static func runOne(
        _ settings: RunSettings, client: SSHClient, name: String,
        output: any OutputMode
    ) async throws -> HostReport {
        let work = { @Sendable () async throws -> HostReport in
            let host = try await client.runCommand(
                settings.command, options: CommandOptions(sudo: settings.sudo, pty: settings.pty))
            do {
                if let input = settings.input, !input.isEmpty { try await host.stdin.write(bytes: input) }
                try? await host.stdin.close()
                async let out = collect(host.rawStdout, name: name, stream: .stdout, settings: settings, output: output)
                async let err = collect(host.rawStderr, name: name, stream: .stderr, settings: settings, output: output)
                let (stdout, stderr) = try await (out, err)
                try await host.waitFinished()
                let status = host.exitStatus
                return HostReport(
                    host: name, exitStatus: status?.signal == nil ? status?.code : nil, signal: status?.signal,
                    stdout: stdout, stderr: stderr, error: nil, started: "", duration: 0)
            } catch {
                // Stopped (a second Ctrl-C, --command-timeout): the remote command is ended, not left running.
                if Task.isCancelled { await host.terminate() }
                throw error
            }
        }
        guard let deadline = settings.commandTimeout else { return try await work() }
        return try await withThrowingTaskGroup(of: HostReport?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let report = first else {
                // The command's task ends the remote command before the connection goes.
                group.cancelAll()
                try? await group.waitForAll()
                await client.disconnect()
                throw SSHError(
                    .timeout, host: client.host,
                    message: "the command did not finish within \(deadline.seconds) s (--command-timeout)")
            }
            return report
        }
    }

    /// Reads a stream to its end: whole lines go to `output` when it streams lines; up to `keepLimit` bytes are kept.
    private static func collect(
        _ stream: SSHByteStream, name: String, stream kind: OutputStream, settings: RunSettings,
        output: any OutputMode
    ) async throws -> String {
        var kept: [UInt8] = []
        var dropped = 0
        var lines = LineSplitter()
        for try await chunk in stream {
            if output.streamsLines {
                lines.append(chunk)
                while let line = lines.nextLine() {
                    output.line(host: name, stream: kind, text: String(decoding: line, as: UTF8.self))
                }
            }
            let room = max(0, settings.keepLimit - kept.count)
            kept += chunk.prefix(room)
            dropped += max(0, chunk.count - room)
        }
        while output.streamsLines, let line = lines.takeRest() {
            output.line(host: name, stream: kind, text: String(decoding: line, as: UTF8.self))
        }
        var text = String(decoding: kept, as: UTF8.self)
        if dropped > 0 { text += "\n[fleetsh: \(dropped) more bytes not kept]\n" }
        return text
    }
}

extension HostReport {
    func with(started: Date, duration: Duration) -> HostReport {
        var copy = self
        copy.started = HostReport.timestamp(started)
        copy.duration = duration.seconds
        return copy
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
