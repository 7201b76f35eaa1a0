import Foundation
import Logging

/// Writes each output line a host logger receives to standard output as it is, `[host]\tline` (stderr lines
/// `[host]\t[err]\tline`): parallel-ssh's `enable_host_logger()`, in one line.
///
/// ```swift
/// let client = try ParallelSSHClient(hosts: hosts, backend: LibSSH2Backend(), hostLogger: .hostOutput())
/// try await client.runCommand("uname")
/// try await client.join(consumeOutput: true)    // every line is printed as it is read
/// ```
public struct HostOutputLogHandler: LogHandler {
    /// Messages below this level are dropped (output lines are logged at `.info`).
    public var logLevel: Logger.Level = .info
    /// Ignored: lines are printed without metadata.
    public var metadata: Logger.Metadata = [:]
    private let write: @Sendable (String) -> Void

    /// Creates the handler; `write` receives each line without its newline (default: printed to standard output).
    public init(write: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.write = write
    }

    /// Metadata is not printed; kept only to satisfy `LogHandler`.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Prints `message` on a line of its own (lines from concurrent hosts never interleave within a line).
    public func log(event: LogEvent) {
        write(event.message.description)
    }
}

extension Logger {
    /// A host logger printing every output line read to standard output (see ``HostOutputLogHandler``).
    public static func hostOutput(label: String = "swift-parallel-ssh.host-output") -> Logger {
        Logger(label: label) { _ in HostOutputLogHandler() }
    }
}
