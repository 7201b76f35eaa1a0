import Foundation
import SSHBackend

/// What one host came to, as a JSON line writes it (`--json`) and `merge` reads it back.
public struct HostReport: Codable, Sendable, Equatable {
    /// A failure that kept the command from running or finishing.
    public struct Failure: Codable, Sendable, Equatable {
        /// The error's code (`connectionRefused`, `authenticationFailed`, `hostKeyChanged`, `timeout`, ...).
        public var kind: String
        /// What happened, in the words the terminal shows (``SSHError/inWords``; with `-v`, as ``detail``).
        public var message: String
        /// The whole error: its code's name, host and port, message, and the native library's code and message.
        public var detail: String?

        /// A failure of `kind`.
        public init(kind: String, message: String, detail: String? = nil) {
            self.kind = kind
            self.message = message
            self.detail = detail
        }

        /// The failure `error` stands for: its `SSHError` code, in words (`verbose`: whole) and whole, or the error as
        /// text. For an unknown host key of the host set's entry `entry`, the way to trust it is the tool's own:
        /// `fleetsh keyscan`.
        public init(_ error: any Error, entry: String? = nil, verbose: Bool = false) {
            if var error = error as? SSHError {
                if error.code == .hostKeyUnknown, let entry, let hint = error.message.range(of: " To trust it,") {
                    error.message =
                        String(error.message[..<hint.lowerBound])
                        + " To trust it, check the fingerprint and run: fleetsh keyscan -H \(entry) --accept"
                        + " (with this run's -F and -o options)"
                }
                self.init(
                    kind: error.code.name, message: verbose ? "\(error)" : error.inWords, detail: "\(error)")
            } else if error is CancellationError {
                self.init(kind: "cancelled", message: "the run was interrupted")
            } else {
                self.init(kind: "error", message: "\(error)")
            }
        }
    }

    /// The host as given (node set expanded).
    public var host: String
    /// The command's exit status, when it exited.
    public var exitStatus: Int32?
    /// The signal that killed it (`KILL`, `TERM`, ...), when one did.
    public var signal: String?
    /// Its standard output (as UTF-8, invalid bytes replaced).
    public var stdout: String
    /// Its standard error.
    public var stderr: String
    /// Why the host failed, if it did.
    public var error: Failure?
    /// When the host's turn started (ISO 8601, UTC).
    public var started: String
    /// How long it took, in seconds (connection included).
    public var duration: Double

    /// A report.
    public init(
        host: String, exitStatus: Int32?, signal: String?, stdout: String, stderr: String, error: Failure?,
        started: String, duration: Double
    ) {
        self.host = host
        self.exitStatus = exitStatus
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.error = error
        self.started = started
        self.duration = duration
    }

    /// The report of a host the run never started (it was stopped first): error kind `notStarted`, so a reader of
    /// the JSON lines can tell it from a host stopped while it ran (`cancelled`).
    public static func notStarted(_ host: String) -> HostReport {
        HostReport(
            host: host, exitStatus: nil, signal: nil, stdout: "", stderr: "",
            error: Failure(kind: "notStarted", message: "\(host): not started: the run was stopped first"),
            started: "", duration: 0)
    }

    /// The reports of `hosts` (the whole run, in order) that `reports` lacks: the hosts never started.
    public static func unstarted(_ hosts: [String], given reports: [HostReport]) -> [HostReport] {
        var left = Dictionary(reports.map { ($0.host, 1) }, uniquingKeysWith: +)
        return hosts.compactMap { host in
            if let count = left[host], count > 0 {
                left[host] = count - 1
                return nil
            }
            return notStarted(host)
        }
    }

    enum CodingKeys: String, CodingKey {
        case host, signal, stdout, stderr, error, started, duration
        case exitStatus = "exit_status"
    }

    /// What the host's outcome counts as in the exit-code contract.
    public var outcome: Outcome {
        if let error { return Outcome(kind: error.kind) }
        return exitStatus == 0 && signal == nil ? .succeeded : .commandFailed
    }

    /// A host's outcome, in the order of severity that decides the tool's exit code.
    public enum Outcome: Int, Comparable, Sendable {
        /// The command ran and exited 0.
        case succeeded = 0
        /// The command ran and exited non-zero, or was killed by a signal.
        case commandFailed = 1
        /// The host could not be reached, refused, failed authentication, timed out or was lost.
        case connectionFailed = 2
        /// The host's key was unknown, changed, revoked or could not be checked.
        case hostKeyFailed = 3
        /// The settings for the host were bad (a config line, a key file, an argument).
        case usage = 64

        /// The outcome an error code stands for.
        init(kind: String) {
            switch kind {
            case SSHError.Code.hostKeyUnknown.name, SSHError.Code.hostKeyChanged.name,
                SSHError.Code.hostKeyRevoked.name,
                SSHError.Code.hostKeyTypeUnsupported.name:
                self = .hostKeyFailed
            case SSHError.Code.invalidArgument.name, SSHError.Code.invalidKey.name:
                self = .usage
            case SSHError.Code.fileTransferFailed.name, SSHError.Code.noSuchFile.name,
                SSHError.Code.permissionDenied.name,
                SSHError.Code.noSpace.name:
                // The host was reached; the operation failed there, as a command exiting non-zero.
                self = .commandFailed
            default:
                self = .connectionFailed
            }
        }

        public static func < (lhs: Outcome, rhs: Outcome) -> Bool { lhs.rawValue < rhs.rawValue }
    }
}

/// The tool's exit code for a set of outcomes (documented in README.md, "The fleetsh tool"): the most severe one
/// present, `0` when every host succeeded (and when there were none).
public func contractExitCode(for reports: some Sequence<HostReport>) -> Int32 {
    Int32(reports.map(\.outcome).max()?.rawValue ?? 0)
}

extension HostReport {
    /// The JSON line (no newline).
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A report read back from a JSON line.
    public static func fromJSONLine(_ line: String) throws -> HostReport {
        try JSONDecoder().decode(HostReport.self, from: Data(line.utf8))
    }

    /// `date` as ISO 8601 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
