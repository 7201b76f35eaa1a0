/// The one error type every engine throws.
///
/// Like `NIOSSHError`, it is a struct with an extensible ``Code`` rather than an enum, so new codes can be added
/// without breaking anyone's `switch`. Compare errors by ``code``:
///
/// ```swift
/// do { _ = try await backend.connect(options) }
/// catch let error as SSHError where error.code == .connectionRefused { … }
/// ```
///
/// Every error names the host and port it concerns, a human-readable message, and where it came from a native
/// library, that library's own code and message.
public struct SSHError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable, comparable code.
    public var code: Code
    /// The host the operation was addressed to, as the caller gave it (`nil` when no host is involved).
    public var host: String?
    /// The port the operation was addressed to.
    public var port: Int?
    /// A sentence explaining the failure.
    public var message: String
    /// The native library's own error code (e.g. a `LIBSSH2_ERROR_*` value or an `errno`), when there is one.
    public var nativeCode: Int32?
    /// The native library's own error message, when there is one.
    public var nativeMessage: String?
    /// For ``Code/authenticationFailed``: each method tried, with the outcome, in order.
    public var attempts: [SSHAuthAttempt]
    /// For a connection through jump hosts that failed on the way: the hop concerned, as `user@host:port`
    /// (the innermost one when several are). With ``isJumpHostFailure`` false it is the hop that reported the
    /// target's failure (e.g. the target refused the hop's connection); with it true the hop itself failed.
    public var jumpHost: String?
    /// Whether the failure is the jump host's own: it refused or timed out, failed authentication or its host-key
    /// check, or its connection was lost. ``code`` is then the hop's, and ``host`` still the target's.
    public var isJumpHostFailure: Bool

    /// Creates an error.
    public init(
        _ code: Code, host: String? = nil, port: Int? = nil, message: String,
        nativeCode: Int32? = nil, nativeMessage: String? = nil, attempts: [SSHAuthAttempt] = []
    ) {
        self.code = code
        self.host = host
        self.port = port
        self.message = message
        self.nativeCode = nativeCode
        self.nativeMessage = nativeMessage
        self.attempts = attempts
        jumpHost = nil
        isJumpHostFailure = false
    }

    /// This error of the jump host `hop` (`user@host:port`) as the failure of the target `host`: the code and
    /// detail stay the hop's, the message says which hop failed. An error already naming a hop (a hop further in)
    /// keeps that hop.
    public func throughJumpHost(_ hop: String, target host: String, port: Int) -> SSHError {
        var copy = self
        if copy.jumpHost == nil {
            copy.jumpHost = hop
            copy.isJumpHostFailure = true
            copy.message = "jump host \(hop): \(message)"
        }
        copy.host = host
        copy.port = port
        return copy
    }

    /// Returns a copy naming `host` and `port`, unless it already names a host.
    public func on(host: String, port: Int) -> SSHError {
        var copy = self
        if copy.host == nil {
            copy.host = host
            copy.port = port
        }
        return copy
    }

    /// `code` and `host:port` first, then the message, the methods tried and the native detail; control
    /// characters escaped (``TerminalText``), since parts of it may come from a server.
    public var description: String {
        TerminalText.sanitized(rawDescription)
    }

    private var rawDescription: String {
        var text = "SSHError.\(code)"
        if let host {
            text += " [\(host)\(port.map { ":\($0)" } ?? "")\(jumpHost.map { " via \($0)" } ?? "")]"
        }
        text += ": \(message)"
        if !attempts.isEmpty {
            text += " (tried: " + attempts.map(\.description).joined(separator: "; ") + ")"
        }
        if let nativeMessage, !nativeMessage.isEmpty, !message.contains(nativeMessage) {
            text += " [native: \(nativeMessage)\(nativeCode.map { ", code \($0)" } ?? "")]"
        } else if let nativeCode {
            text += " [native code \(nativeCode)]"
        }
        return text
    }
}

extension SSHError {
    /// A stable code for an ``SSHError``. Extensible: compare with `==`, never switch exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. `"connectionRefused"`.
        public let name: String

        /// Creates a code. Engines and frontends may add their own codes.
        public init(_ name: String) { self.name = name }

        public var description: String { name }

        /// The host name could not be resolved to an address.
        public static let unknownHost = Code("unknownHost")
        /// The TCP connection was actively refused (nothing listens on the port).
        public static let connectionRefused = Code("connectionRefused")
        /// The host or network is unreachable.
        public static let hostUnreachable = Code("hostUnreachable")
        /// A deadline passed: TCP connect, SSH handshake, authentication, channel open or a read.
        public static let timeout = Code("timeout")
        /// The SSH protocol handshake (banner, key exchange) failed.
        public static let handshakeFailed = Code("handshakeFailed")
        /// The server closed or reset the connection before sending its banner: what sshd does past `MaxStartups`
        /// unauthenticated connections, and what a connection limit in front of it (a load balancer, Dropbear's
        /// per-address limit) does. Worth trying again later; the parallel client paces and retries it itself.
        public static let closedBeforeBanner = Code("closedBeforeBanner")
        /// Every authentication method failed or none was left; ``SSHError/attempts`` lists them.
        public static let authenticationFailed = Code("authenticationFailed")
        /// A private key could not be read or decrypted (missing file, bad format, wrong passphrase).
        public static let invalidKey = Code("invalidKey")
        /// The server refused to honour a channel request (exec, shell, subsystem; a refused env or pty request
        /// does not fail the channel: see ``SSHRefusedRequests``).
        public static let channelFailure = Code("channelFailure")
        /// The server refused to open a channel, so nothing was started: usually its limit of channels per
        /// connection (sshd's `MaxSessions`, TinySSH's one). The frontend's `SSHClient` then runs the operation on
        /// a new connection.
        public static let channelOpenRefused = Code("channelOpenRefused")
        /// The operation was attempted on a session or channel that has been closed.
        public static let sessionClosed = Code("sessionClosed")
        /// The connection broke while in use (the server or the network dropped it).
        public static let connectionLost = Code("connectionLost")
        /// This engine cannot do what was asked; see ``SSHCapability``.
        public static let unsupported = Code("unsupported")
        /// An argument was invalid (empty host, port out of range, malformed value).
        public static let invalidArgument = Code("invalidArgument")
        /// The remote side violated the protocol or the native library reported an unexpected failure.
        public static let protocolError = Code("protocolError")
        /// A local resource ran out (file descriptors, memory).
        public static let resourceExhausted = Code("resourceExhausted")
        /// A remote or local file operation failed (SFTP/SCP).
        public static let fileTransferFailed = Code("fileTransferFailed")
        /// A file or directory to transfer does not exist (locally or remotely; the message says which).
        public static let noSuchFile = Code("noSuchFile")
        /// Permission to read or write a file was denied (locally or remotely).
        public static let permissionDenied = Code("permissionDenied")
        /// A file system is full or a disk quota is reached while writing a file (the message says which path).
        public static let noSpace = Code("noSpace")
        /// A stream of a channel holds its limit of output nobody reads while someone waits for the command to
        /// end (see ``SSHChannelRequest/unreadOutputLimit``); the command still runs and nothing was lost.
        public static let outputLimitExceeded = Code("outputLimitExceeded")
        /// The server's host key is not known and the policy does not accept new keys (OpenSSH: "No ED25519 host
        /// key is known for ... and you have requested strict checking"). The message says how to trust it.
        public static let hostKeyUnknown = Code("hostKeyUnknown")
        /// The server's host key differs from the one known for it, or a key of another type is known
        /// ("REMOTE HOST IDENTIFICATION HAS CHANGED"); the message names the file and line of the known entry.
        public static let hostKeyChanged = Code("hostKeyChanged")
        /// The server's host key is marked `@revoked` in a known-hosts file.
        public static let hostKeyRevoked = Code("hostKeyRevoked")
        /// The key type known for the host cannot be negotiated by this engine (e.g. RSA with SHA-2 on libssh2
        /// 1.10), so its key cannot be checked; the message names the type and what to do.
        public static let hostKeyTypeUnsupported = Code("hostKeyTypeUnsupported")
        /// The operation was cancelled (its task was cancelled) before it finished.
        public static let cancelled = Code("cancelled")
        /// An error of another kind than this package's (the message holds its description), met where a host's
        /// result must be an ``SSHError``.
        public static let other = Code("other")
    }

    /// `error` as an ``SSHError`` of `host:port`: itself when it is one (given the host if it names none),
    /// ``Code/cancelled`` for a `CancellationError`, ``Code/other`` with its description otherwise.
    public init(_ error: any Error, host: String, port: Int) {
        switch error {
        case let error as SSHError: self = error.on(host: host, port: port)
        case is CancellationError:
            self.init(.cancelled, host: host, port: port, message: "the operation was cancelled")
        default: self.init(.other, host: host, port: port, message: "\(error)")
        }
    }
}

/// One authentication method tried, and what happened.
public struct SSHAuthAttempt: Sendable, Hashable, CustomStringConvertible {
    /// The method, as the SSH protocol names it (`publickey`, `password`, `keyboard-interactive`) plus detail,
    /// e.g. `publickey (agent: ed25519 key)` or `publickey (/home/me/.ssh/id_ed25519)`.
    public var method: String
    /// Why it did not succeed.
    public var outcome: String

    /// Creates an attempt record.
    public init(method: String, outcome: String) {
        self.method = method
        self.outcome = outcome
    }

    public var description: String { "\(method): \(outcome)" }
}
