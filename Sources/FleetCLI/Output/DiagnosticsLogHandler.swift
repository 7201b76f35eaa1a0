import Logging

/// Prints the client's own diagnostics (connection attempts, retries, failures) as `fleetsh -vv` shows them, one line
/// each on standard error: `fleetsh: <host>: <message> (<key>: <value>, ...)`, the host taken from the event's
/// `host` metadata. Messages are the library's; what a server sent reaches them only through `SSHError`, whose
/// text is already made safe for a terminal.
public struct DiagnosticsLogHandler: LogHandler {
    /// Messages below this level are dropped.
    public var logLevel: Logger.Level
    /// Metadata added to every event.
    public var metadata: Logger.Metadata = [:]
    private let terminal: Terminal

    /// A handler writing through `terminal` (so lines never mix with its status line), from `level` up.
    public init(terminal: Terminal, level: Logger.Level) {
        self.terminal = terminal
        logLevel = level
    }

    /// Metadata added to every event.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event as one line.
    public func log(event: LogEvent) {
        terminal.write(
            Self.line(event.message.description, metadata: metadata.merging(event.metadata ?? [:]) { $1 }), error: true)
    }

    /// The line for `message` with `metadata`: the host first, the rest in key order, each value on one line.
    public static func line(_ message: String, metadata: Logger.Metadata) -> String {
        let host = metadata["host"].map { "\($0): " } ?? ""
        let rest = metadata.filter { $0.key != "host" }.sorted { $0.key < $1.key }
            .map { "\($0.key): \("\($0.value)".split(whereSeparator: \.isNewline).joined(separator: " "))" }
        return "fleetsh: \(host)\(message)" + (rest.isEmpty ? "" : " (\(rest.joined(separator: ", ")))") + "\n"
    }
}

extension Logger {
    /// The diagnostics logger of `fleetsh -vv` (`.info` and up) and `-vvv` (`.debug` too); `nil` below.
    public static func fleetDiagnostics(verbosity: Int, terminal: Terminal) -> Logger? {
        guard verbosity >= 2 else { return nil }
        return Logger(label: "fleetsh.diagnostics") { _ in
            DiagnosticsLogHandler(terminal: terminal, level: verbosity >= 3 ? .debug : .info)
        }
    }
}
