import ArgumentParser
import FleetCLI
import Foundation
import Logging
import ParallelFrontend
import SSHBackend
import SSHFileTransfer
import Synchronization

extension Fleetsh {
    /// `fleetsh copy`: a local file or tree to every host.
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a local file (or a tree, with -r) to every host, over SFTP (or SCP with --scp).")

        @OptionGroup var hostSet: HostOptions
        @OptionGroup var connection: ConnectionFlags
        @OptionGroup var transfer: TransferFlags

        @Argument(help: "The local file or directory.")
        var source: String

        @Argument(help: "The remote path (an existing directory receives the source inside it).")
        var destination: String

        func run() async throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
                usage("\(source) does not exist")
            }
            // As cp and scp: a directory needs -r, and that is known before anything connects.
            if isDirectory.boolValue && !transfer.recursive { usage("\(source) is a directory (copy it with -r)") }
            // As scp: a device would be read without end, a FIFO waited on.
            var info = stat()
            if !isDirectory.boolValue && (stat(source, &info) != 0 || info.st_mode & S_IFMT != S_IFREG) {
                usage("\(source) is not a regular file")
            }
            let (source, destination, transfer) = (self.source, self.destination, self.transfer)
            try await transfer.run(hostSet.entries(), connection: connection) { client, _, progress in
                try await client.upload(
                    source, to: destination, using: transfer.scp ? .scp(overwrite: true) : .sftp,
                    recurse: transfer.recursive, progress: progress)
            }
        }
    }

    /// `fleetsh fetch`: a remote file or tree from every host, each into a directory named after its host.
    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Copy a remote file (or a tree, with -r) from every host into DIR/<host>/, over SFTP (or SCP with --scp)."
        )

        @OptionGroup var hostSet: HostOptions
        @OptionGroup var connection: ConnectionFlags
        @OptionGroup var transfer: TransferFlags

        @Argument(help: "The remote file or directory.")
        var source: String

        @Argument(help: "The local directory; each host's copy goes to DIR/<host>/<name>.")
        var directory: String

        func run() async throws {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && !isDirectory.boolValue {
                usage("\(directory) is not a directory")
            }
            let (source, directory, transfer) = (self.source, self.directory, self.transfer)
            let name = FetchName.of(source)
            try await transfer.run(hostSet.entries(), connection: connection) { client, host, progress in
                let folder = HostFileName.path(in: directory, host: host)
                try await client.connect()  // a host that cannot be reached leaves no folder behind
                try await LocalFile.makeDirectories(folder)
                try await client.download(
                    source, to: "\(folder)/\(name)", using: transfer.scp ? .scp() : .sftp,
                    recurse: transfer.recursive, progress: progress)
            }
        }
    }
}

/// What `copy` and `fetch` share: the protocol, recursion, and the run with its report and exit code.
struct TransferFlags: ParsableArguments {
    @Flag(name: [.customShort("r"), .customLong("recursive")], help: "Copy directories and their contents.")
    var recursive = false

    @Flag(help: "Use SCP instead of SFTP.")
    var scp = false

    @Option(help: "Write the hosts that did not succeed to this file, as a node set.")
    var failedHosts: String?

    /// Runs `body` on every host: a line per failed host on stderr (and `host: done` on stdout), the status line on a
    /// terminal (with bytes copied and the rate, from `body`'s progress handler), the contract's exit code.
    func run(
        _ entries: [HostEntry], connection: ConnectionFlags,
        _ body: @escaping @Sendable (SSHClient, String, TransferProgressHandler?) async throws -> Void
    ) async throws -> Never {
        let config = connection.hostConfig()
        await connection.checkConfiguration(config, for: entries)
        let stopSignals = StopSignals()
        defer { withExtendedLifetime(stopSignals) {} }
        let terminal = Terminal()
        let progress = FleetCLI.Progress(total: entries.count)
        let counter = ByteCounter()
        var bytes: TransferProgressHandler?
        if terminal.statusCapable {
            bytes = { (host: String, _: Int, update: SSHTransferProgress) in
                progress.copied(counter.advance(host, to: update))
            }
        }
        let handler = bytes
        let ticker = terminal.statusCapable ? progress.show(on: terminal) : nil
        let names = entries.map(\.name)
        var reports: [HostReport] = []
        try await ParallelRun.forEachHost(
            entries.lazy.map(\.target), backend: connection.engineChoice().backend,
            config: config, concurrency: connection.concurrency(),
            logger: Logger.fleetDiagnostics(verbosity: connection.verbosity, terminal: terminal)
        ) { client in
            progress.started(names[client.index])
            try await body(client, names[client.index], handler)
        } completed: { run in
            var report = HostReport(
                host: names[run.index], exitStatus: 0, signal: nil, stdout: "", stderr: "", error: nil,
                started: "", duration: 0)
            if case .failure(let error) = run.result {
                report.exitStatus = nil
                report.error = HostReport.Failure(error, entry: names[run.index], verbose: connection.verbose)
                terminal.write("fleetsh: \(report.host): \(report.error?.message ?? "")\n", error: true)
            } else {
                terminal.write("\(report.host): done\n")
            }
            progress.finished(report)
            reports.append(report)
        }
        ticker?.cancel()
        await ticker?.value
        writeFailedHosts(reports, of: names, to: failedHosts)
        exitWith(contractExitCode(for: reports))
    }
}

/// Turns each host's per-file progress (bytes done so far in the current file) into bytes added since the last
/// report; a file is taken to have changed when its total changes or its count goes back.
final class ByteCounter: Sendable {
    private let seen = Mutex<[String: (total: UInt64?, done: UInt64)]>([:])

    /// The bytes `update` adds for `host`.
    func advance(_ host: String, to update: SSHTransferProgress) -> Int64 {
        seen.withLock { seen in
            var before: UInt64 = 0
            if let previous = seen[host], previous.total == update.bytesTotal, previous.done <= update.bytesDone {
                before = previous.done
            }
            seen[host] = (update.bytesTotal, update.bytesDone)
            return Int64(update.bytesDone - before)
        }
    }
}
