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
    public let error: SSHError?
    /// stdout as lines. For a failed host, iterating throws ``error``.
    public let stdout: HostLines
    /// stderr as lines (empty with a PTY: the terminal merges it into stdout). For a failed host, iterating
    /// throws ``error``.
    public let stderr: HostLines
    /// The command's stdin. For a failed host, writing throws ``error``.
    public let stdin: HostStdin
    /// stdout as raw byte chunks, for binary output. Read either this or ``stdout``, not both: they share one
    /// stream, and bytes one of them takes the other never sees.
    public let rawStdout: SSHByteStream
    /// stderr as raw byte chunks (see ``rawStdout``).
    public let rawStderr: SSHByteStream
    let channel: (any SSHChannel)?
    /// The port connected to (for errors).
    private let port: Int

    /// - Parameter watched: a stream read through a watcher (sudo's prompt) instead of the channel's own.
    init(
        host: String, alias: String?, index: Int, command: String?, channel: any SSHChannel, port: Int,
        encoding: String.Encoding, readTimeout: Duration?, logger: Logger?,
        watched: (stream: SSHByteStream, isStderr: Bool)? = nil
    ) {
        self.host = host
        self.alias = alias
        self.index = index
        self.port = port
        self.command = command
        self.error = nil
        self.channel = channel
        rawStdout = watched.flatMap { $0.isStderr ? nil : $0.stream } ?? channel.stdout
        rawStderr = watched.flatMap { $0.isStderr ? $0.stream : nil } ?? channel.stderr
        let label = alias ?? host
        stdout = HostLines(
            reader: LineReader(
                stream: rawStdout, host: host, port: port, label: label,
                isStderr: false, encoding: encoding, readTimeout: readTimeout, logger: logger))
        stderr = HostLines(
            reader: LineReader(
                stream: rawStderr, host: host, port: port, label: label,
                isStderr: true, encoding: encoding, readTimeout: readTimeout, logger: logger))
        stdin = HostStdin(channel: .success(channel), encoding: encoding)
    }

    init(host: String, alias: String?, index: Int, port: Int, error: any Error) {
        let error = SSHError(error, host: host, port: port)
        self.host = host
        self.alias = alias
        self.index = index
        self.port = port
        self.command = nil
        self.error = error
        self.channel = nil
        let failed = SSHByteStream(FailedSource(error: error))
        rawStdout = failed
        rawStderr = failed
        let label = alias ?? host
        stdout = HostLines(
            reader: LineReader(
                stream: failed, host: host, port: port, label: label, isStderr: false,
                encoding: .utf8, readTimeout: nil, logger: nil))
        stderr = HostLines(
            reader: LineReader(
                stream: failed, host: host, port: port, label: label, isStderr: true,
                encoding: .utf8, readTimeout: nil, logger: nil))
        stdin = HostStdin(channel: .failure(error), encoding: .utf8)
    }

    /// The exit code, once the command finished; `nil` while it runs, for a failed host, or when a signal killed it.
    public var exitCode: Int32? { exitStatus?.code }
    /// The signal that killed the command (e.g. `"TERM"`), once finished.
    public var exitSignal: String? { exitStatus?.signal }
    /// The whole exit status, once finished.
    public var exitStatus: SSHExitStatus? { try? channel?.exitResult?.get() }
    /// Why no exit status came (the channel or connection ended first), once finished.
    public var exitError: SSHError? {
        if case .failure(let error) = channel?.exitResult { return SSHError(error, host: host, port: port) }
        return nil
    }
    /// Whether the command finished (never blocks). A failed host counts as finished.
    public var isFinished: Bool { channel.map { $0.exitResult != nil } ?? true }

    /// Waits until the command finished (its exit status is known or the channel ended); does not read output.
    /// Output nobody reads is gathered meanwhile, up to the client's `unreadOutputLimit` per stream, and stays
    /// readable afterwards.
    /// - Throws: `SSHError` with code `outputLimitExceeded` when a stream holds that limit unread while the command
    ///   still runs (read the streams, then wait again); `CancellationError` when the calling task is cancelled.
    ///   A command that ended without an exit status (see ``exitError``) is not an error here.
    public func waitFinished() async throws {
        guard let channel else { return }
        do {
            _ = try await channel.exitStatus()
        } catch let error as SSHError where error.code == .outputLimitExceeded {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The channel or connection ended first: `exitError` says why.
        }
    }

    /// Closes the channel: the command gets EOF and, with a PTY, a hang-up.
    public func close() async {
        await channel?.close()
    }

    /// Ends the remote command rather than leaving it running: sends it `signal` (without `SIG`) where the engine
    /// can send one (libssh; OpenSSH's sshd signals the command's process group), then closes the channel, which
    /// hangs up a command that has a PTY. A command without a PTY on an engine that cannot send signals (libssh2
    /// 1.10) may survive the close until it next writes. Does nothing once the command finished; never throws,
    /// and runs to its end even when the calling task is cancelled.
    public func terminate(signal: String = "TERM") async {
        guard let channel, channel.exitResult == nil else { return }
        // A task of its own, so a cancelled caller (a stopped run) still gets the signal and the close sent.
        await Task {
            try? await channel.sendSignal(signal)
            await channel.close()
        }.value
    }

    public var description: String {
        let name = alias.map { "\(host) (\($0))" } ?? host
        if let error { return "\(name): \(error)" }
        return "\(name): \(exitStatus.map { "\($0)" } ?? "running")"
    }
}

/// Writes to one host's stdin.
public struct HostStdin: Sendable {
    let channel: Result<any SSHChannel, any Error>
    let encoding: String.Encoding

    /// Writes `text` (add `"\n"` to answer a prompt), encoded with the command's encoding.
    /// - Throws: `invalidArgument` when `text` cannot be encoded that way; the host's error for a failed host.
    public func write(_ text: String) async throws {
        try await channel.get().write(try encoded(text, encoding, host: nil))
    }

    /// Writes raw bytes.
    public func write(bytes: [UInt8]) async throws {
        try await channel.get().write(bytes)
    }

    /// Sends EOF: the command's stdin ends.
    public func close() async throws {
        try await channel.get().sendEOF()
    }
}

/// `text` in `encoding`.
/// - Throws: `invalidArgument` when a character has no representation in `encoding`.
func encoded(_ text: String, _ encoding: String.Encoding, host: String?) throws(SSHError) -> [UInt8] {
    if encoding == .utf8 { return Array(text.utf8) }
    guard let data = text.data(using: encoding) else {
        throw SSHError(
            .invalidArgument, host: host, port: nil,
            message: "the text cannot be encoded as \(String.localizedName(of: encoding))")
    }
    return Array(data)
}

/// The streams of a host that has none: every read throws why.
struct FailedSource: SSHByteSource {
    let error: any Error

    func next() async throws -> [UInt8]? { throw error }
}
