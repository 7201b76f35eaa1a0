import Foundation
import Logging
import SSHBackend

/// What one host's command produced: its output streams, stdin, exit status, or the error that kept it from
/// running. One per entry of the host list, in the same order (duplicates included).
public final class HostOutput: Sendable, CustomStringConvertible {
    /// The host as given in the host list.
    public let host: String
    /// The alias from the host's ``HostConfig``, if any.
    public let alias: String?
    /// The position in the host list.
    public let index: Int
    /// The command actually sent (after host arguments and sudo/shell wrapping); `nil` for shells and failed hosts.
    public let command: String?
    /// Why this host has no command running (with `stopOnErrors: false`), else `nil`.
    public let error: (any Error)?
    /// stdout as lines; `nil` for a failed host.
    public let stdout: HostLines?
    /// stderr as lines; `nil` for a failed host. Empty with a PTY (the terminal merges it into stdout).
    public let stderr: HostLines?
    /// The command's stdin; `nil` for a failed host.
    public let stdin: HostStdin?
    /// stdout as raw byte chunks, for binary output. Read either this or ``stdout``, not both: they share one
    /// stream, and bytes one of them takes the other never sees.
    public var rawStdout: SSHByteStream? { channel?.stdout }
    /// stderr as raw byte chunks (see ``rawStdout``).
    public var rawStderr: SSHByteStream? { channel?.stderr }
    let channel: (any SSHChannel)?

    init(host: String, alias: String?, index: Int, command: String?, channel: any SSHChannel, port: Int,
         encoding: String.Encoding, readTimeout: Duration?, logger: Logger?) {
        self.host = host
        self.alias = alias
        self.index = index
        self.command = command
        self.error = nil
        self.channel = channel
        let label = alias ?? host
        stdout = HostLines(reader: LineReader(stream: channel.stdout, host: host, port: port, label: label,
                                              isStderr: false, encoding: encoding, readTimeout: readTimeout, logger: logger))
        stderr = HostLines(reader: LineReader(stream: channel.stderr, host: host, port: port, label: label,
                                              isStderr: true, encoding: encoding, readTimeout: readTimeout, logger: logger))
        stdin = HostStdin(channel: channel, encoding: encoding)
    }

    init(host: String, alias: String?, index: Int, error: any Error) {
        self.host = host
        self.alias = alias
        self.index = index
        self.command = nil
        self.error = error
        self.channel = nil
        stdout = nil
        stderr = nil
        stdin = nil
    }

    /// The exit code, once the command finished; `nil` while it runs, for a failed host, or when a signal killed it.
    public var exitCode: Int32? { exitStatus?.code }
    /// The signal that killed the command (e.g. `"TERM"`), once finished.
    public var exitSignal: String? { exitStatus?.signal }
    /// The whole exit status, once finished.
    public var exitStatus: SSHExitStatus? { try? channel?.exitResult?.get() }
    /// Why no exit status came (the channel or connection ended first), once finished.
    public var exitError: (any Error)? {
        if case .failure(let error) = channel?.exitResult { return error }
        return nil
    }
    /// Whether the command finished (never blocks). A failed host counts as finished.
    public var isFinished: Bool { channel.map { $0.exitResult != nil } ?? true }

    /// Waits until the command finished (its exit status is known or the channel ended), or the calling task is
    /// cancelled; does not read output.
    public func waitFinished() async {
        _ = try? await channel?.exitStatus()
    }

    /// Closes the channel: the command gets EOF and, with a PTY, a hang-up.
    public func close() async {
        await channel?.close()
    }

    public var description: String {
        let name = alias.map { "\(host) (\($0))" } ?? host
        if let error { return "\(name): \(error)" }
        return "\(name): \(exitStatus.map { "\($0)" } ?? "running")"
    }
}

/// Writes to one host's stdin.
public struct HostStdin: Sendable {
    let channel: any SSHChannel
    let encoding: String.Encoding

    /// Writes `text` (add `"\n"` to answer a prompt).
    public func write(_ text: String) async throws {
        try await channel.write(Array(text.data(using: encoding) ?? Data(text.utf8)))
    }

    /// Writes raw bytes.
    public func write(bytes: [UInt8]) async throws {
        try await channel.write(bytes)
    }

    /// Sends EOF: the command's stdin ends.
    public func close() async throws {
        try await channel.sendEOF()
    }
}
