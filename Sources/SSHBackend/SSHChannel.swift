/// What to start on a new channel.
public struct SSHChannelRequest: Sendable {
    /// A command or an interactive shell.
    public enum Kind: Sendable, Hashable {
        /// Run one command (SSH `exec` request).
        case exec(String)
        /// Start the user's login shell (SSH `shell` request).
        case shell
        /// Start a subsystem such as `"sftp"` (SSH `subsystem` request).
        case subsystem(String)
    }

    /// What to start.
    public var kind: Kind
    /// A pseudo-terminal to allocate first, or `nil`.
    public var pty: SSHPTYRequest?
    /// Environment variables to send first (the server only keeps those its `AcceptEnv` allows).
    public var environment: [String: String]

    /// Creates a request.
    public init(kind: Kind, pty: SSHPTYRequest? = nil, environment: [String: String] = [:]) {
        self.kind = kind
        self.pty = pty
        self.environment = environment
    }

    /// Runs `command`.
    public static func exec(_ command: String) -> SSHChannelRequest { SSHChannelRequest(kind: .exec(command)) }
    /// Starts a shell.
    public static var shell: SSHChannelRequest { SSHChannelRequest(kind: .shell) }
    /// Starts the subsystem `name`.
    public static func subsystem(_ name: String) -> SSHChannelRequest { SSHChannelRequest(kind: .subsystem(name)) }
}

/// A pseudo-terminal request.
public struct SSHPTYRequest: Sendable, Hashable {
    /// Terminal type, e.g. `"xterm"`.
    public var term: String
    /// Width in characters.
    public var columns: Int
    /// Height in rows.
    public var rows: Int

    /// Creates a PTY request.
    public init(term: String = "vt100", columns: Int = 80, rows: Int = 24) {
        self.term = term
        self.columns = columns
        self.rows = rows
    }
}

/// How a remote command ended.
public struct SSHExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// The exit code, or `nil` when the command was killed by a signal.
    public var code: Int32?
    /// The signal name without `SIG` (e.g. `"TERM"`), or `nil` for a normal exit.
    public var signal: String?
    /// Whether the killed command dumped core.
    public var coreDumped: Bool
    /// The server's message accompanying an exit signal, if any.
    public var signalMessage: String?

    /// Creates an exit status.
    public init(code: Int32?, signal: String? = nil, coreDumped: Bool = false, signalMessage: String? = nil) {
        self.code = code
        self.signal = signal
        self.coreDumped = coreDumped
        self.signalMessage = signalMessage
    }

    public var description: String {
        if let signal { return "killed by SIG\(signal)" + (coreDumped ? " (core dumped)" : "") }
        return "exit \(code.map(String.init) ?? "unknown")"
    }
}

/// One open channel: a running command or shell with its three streams.
///
/// `stdout` and `stderr` are separate byte streams that each may be read by one consumer. Output nobody reads
/// is held in a bounded buffer; once full, the engine stops reading that channel and the SSH window throttles
/// the remote side, so memory per channel stays bounded however much the command writes.
public protocol SSHChannel: Sendable {
    /// The command's standard output, as chunks of bytes.
    var stdout: SSHByteStream { get }
    /// The command's standard error, as chunks of bytes (merged into stdout by the remote when a PTY is used).
    var stderr: SSHByteStream { get }
    /// The exit status once the channel knows it, or why it never will (the channel or connection ended
    /// first); `nil` while the command runs. Never waits: the engine publishes it as it settles, before a reader
    /// of ``stdout`` sees the end of the stream.
    var exitResult: Result<SSHExitStatus, SSHError>? { get }

    /// Writes `bytes` to the command's standard input, suspending until the library accepted all of them.
    /// - Throws: ``SSHError/Code/sessionClosed`` after EOF or close; ``SSHError/Code/connectionLost``.
    func write(_ bytes: [UInt8]) async throws

    /// Sends EOF on standard input (after all earlier writes). Idempotent.
    func sendEOF() async throws

    /// Sends a signal (name without `SIG`, e.g. `"TERM"`) to the remote command.
    /// - Throws: ``SSHError/Code/unsupported`` on engines without ``SSHCapability/sendSignal``.
    func sendSignal(_ name: String) async throws

    /// Waits until the command has ended and the channel is closed, then returns how it ended.
    ///
    /// This needs the output to be read (or the channel closed): a command blocked on a full output window
    /// never ends.
    /// - Throws: ``SSHError/Code/connectionLost`` if the connection broke first.
    func exitStatus() async throws -> SSHExitStatus

    /// Closes the channel; the command gets SIGHUP from sshd, streams finish. Idempotent.
    func close() async
}

extension SSHChannelRequest.Kind: CustomStringConvertible {
    /// What is started, for messages: `command "uname"`, `a shell`, `the sftp subsystem`.
    public var description: String {
        switch self {
        case .exec(let command): return "command \"\(command)\""
        case .shell: return "a shell"
        case .subsystem(let name): return "the \(name) subsystem"
        }
    }
}
