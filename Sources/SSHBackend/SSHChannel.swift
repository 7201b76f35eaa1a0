/// What to start on a new channel.
public struct SSHChannelRequest: Sendable {
    /// A command or an interactive shell.
    public enum Kind: Sendable, Hashable {
        /// Run one command (SSH `exec` request), sent as UTF-8.
        case exec(String)
        /// Run one command given as bytes in another encoding (the command must not contain a NUL byte).
        case execBytes([UInt8])
        /// Start the user's login shell (SSH `shell` request).
        case shell
        /// Start a subsystem such as `"sftp"` (SSH `subsystem` request).
        case subsystem(String)
        /// A `direct-tcpip` channel instead of a session: a byte stream to `host:port` as the server connects to
        /// it (what `ssh -W` and ProxyJump use). Environment and PTY do not apply; stdout carries what comes back.
        case directTCPIP(host: String, port: Int)
    }

    /// What to start.
    public var kind: Kind
    /// A pseudo-terminal to allocate first, or `nil`.
    public var pty: SSHPTYRequest?
    /// Environment variables to send first (the server only keeps those its `AcceptEnv` allows).
    public var environment: [String: String]
    /// The most bytes each output stream (stdout, stderr) holds unread while someone waits for the command to end
    /// (a reader of the other stream, or ``SSHChannel/exitStatus()``); `nil` for
    /// ``defaultUnreadOutputLimit``. Past the engine's own buffer, output nobody reads pauses the command; up to
    /// this limit it is gathered instead for such a waiter (for a stream no reader has touched), and beyond it the waiter fails with
    /// ``SSHError/Code/outputLimitExceeded`` instead of waiting for ever.
    public var unreadOutputLimit: Int?

    /// The unread output limit when a request gives none: 16 MiB per stream.
    public static let defaultUnreadOutputLimit = 16 * 1024 * 1024

    /// How many bytes the server may send ahead of our reads (the channel's SSH window); `nil`: the engine's
    /// default (2 MiB on libssh2). A bulk copy over a long round trip needs a window of at least the bandwidth-delay
    /// product; the engine may hold up to this much per channel when reading falls behind. libssh 0.10 sizes its
    /// windows itself (1.28 MB) and ignores it.
    public var receiveWindow: Int?

    /// Creates a request.
    public init(
        kind: Kind, pty: SSHPTYRequest? = nil, environment: [String: String] = [:],
        unreadOutputLimit: Int? = nil, receiveWindow: Int? = nil
    ) {
        self.kind = kind
        self.pty = pty
        self.environment = environment
        self.unreadOutputLimit = unreadOutputLimit
        self.receiveWindow = receiveWindow
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

/// Requests the server refused while a channel was set up that, as in OpenSSH, do not fail it: environment
/// variables (`SendEnv`, `SetEnv`, `environment:`; a server without `AcceptEnv` refuses them all) and the
/// pseudo-terminal ("PTY allocation request failed", after which the command runs without one).
public struct SSHRefusedRequests: Sendable, Hashable {
    /// The names (never the values) of the environment variables the server refused.
    public var environment: [String] = []
    /// Whether the server refused the pseudo-terminal (the command then runs without one).
    public var pty = false
    /// Whether agent forwarding was asked for and not set up (the server refused it, or the engine cannot carry
    /// it: ``SSHCapability/agentForwarding``); the command then runs without the agent.
    public var agentForwarding = false

    /// Nothing refused.
    public init() {}

    /// Whether nothing was refused.
    public var isEmpty: Bool { environment.isEmpty && !pty && !agentForwarding }
}

/// One open channel: a running command or shell with its three streams.
///
/// `stdout` and `stderr` are separate byte streams that each may be read by one consumer. Output nobody reads
/// is held in a bounded buffer; once full, the engine stops reading that channel and the SSH window throttles
/// the remote side, so memory per channel stays bounded however much the command writes. While someone waits
/// for the command's end (a reader of the other stream, or ``exitStatus()``), the output of a stream nobody has
/// read is gathered up to ``SSHChannelRequest/unreadOutputLimit`` instead, so reading only stdout, or only
/// waiting, never deadlocks. A stream somebody reads goes at that reader's pace.
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
    /// Output nobody reads is gathered meanwhile, up to the request's
    /// ``SSHChannelRequest/unreadOutputLimit`` per stream, and stays readable afterwards.
    /// - Throws: ``SSHError/Code/connectionLost`` if the connection broke first;
    ///   ``SSHError/Code/outputLimitExceeded`` when a stream holds its limit unread and the command still runs
    ///   (it goes on; read the streams, then wait again).
    func exitStatus() async throws -> SSHExitStatus

    /// Closes the channel; the command gets SIGHUP from sshd, streams finish. Idempotent.
    func close() async

    /// What the server refused while the channel was set up, without failing it (see ``SSHRefusedRequests``).
    var refusedRequests: SSHRefusedRequests { get }
}

extension SSHChannel {
    /// Nothing refused (for channels that never send such requests).
    public var refusedRequests: SSHRefusedRequests { SSHRefusedRequests() }
}

extension SSHChannelRequest.Kind: CustomStringConvertible {
    /// What is started, for messages: `command "uname"`, `a shell`, `the sftp subsystem`.
    public var description: String {
        switch self {
        case .exec(let command): return "command \"\(command)\""
        case .execBytes(let bytes): return "command \"\(String(decoding: bytes, as: UTF8.self))\""
        case .shell: return "a shell"
        case .subsystem(let name): return "the \(name) subsystem"
        case .directTCPIP(let host, let port): return "a tunnel to \(host):\(port)"
        }
    }
}
