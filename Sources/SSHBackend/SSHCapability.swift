/// Something an engine can or cannot do. Engines declare their set in ``SSHBackend/capabilities``; an operation
/// outside that set throws ``SSHError/Code/unsupported``.
///
/// Extensible like ``SSHError/Code``: new capabilities are new static values.
public struct SSHCapability: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// A stable identifier, e.g. `"auth.agent"`.
    public let name: String
    /// One line a person reads in the feature matrix.
    public let summary: String

    /// Creates a capability.
    public init(_ name: String, summary: String) {
        self.name = name
        self.summary = summary
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.name < rhs.name }
    public var description: String { name }

    /// Password authentication.
    public static let passwordAuth = SSHCapability("auth.password", summary: "Password authentication")
    /// Keyboard-interactive authentication with a responder.
    public static let keyboardInteractiveAuth = SSHCapability(
        "auth.keyboard-interactive", summary: "Keyboard-interactive authentication")
    /// Private key from a file, optionally encrypted with a passphrase.
    public static let privateKeyFileAuth = SSHCapability(
        "auth.key-file", summary: "Private key from a file (with passphrase)")
    /// Private key from memory.
    public static let privateKeyMemoryAuth = SSHCapability("auth.key-memory", summary: "Private key from memory")
    /// Each private key parsed and decrypted once per process, however many sessions use it.
    public static let keyDecryptedOnce = SSHCapability(
        "auth.key-decrypted-once", summary: "A passphrase-protected key decrypted once, not once per host")
    /// SSH agent (`SSH_AUTH_SOCK`).
    public static let agentAuth = SSHCapability("auth.agent", summary: "SSH agent authentication")
    /// RSA user keys signed with rsa-sha2-256/512, as OpenSSH 8.8 and later require.
    public static let rsaSHA2UserKeys = SSHCapability(
        "auth.rsa-sha2", summary: "RSA user keys (rsa-sha2) against OpenSSH >= 8.8")
    /// Kerberos authentication through GSSAPI (`gssapi-with-mic`), with credential delegation.
    public static let gssapiAuth = SSHCapability(
        "auth.gssapi", summary: "Kerberos (GSSAPI) authentication, with ticket delegation")
    /// OpenSSH user certificates.
    public static let userCertificates = SSHCapability("auth.certificate", summary: "OpenSSH user certificates")
    /// Running a command with separate stdout and stderr.
    public static let exec = SSHCapability("channel.exec", summary: "Exec with separate stdout and stderr")
    /// Pseudo-terminal allocation.
    public static let pty = SSHCapability("channel.pty", summary: "Pseudo-terminal (PTY) with terminal type and size")
    /// Environment variables sent with a request.
    public static let environment = SSHCapability("channel.env", summary: "Environment variables")
    /// An interactive shell.
    public static let shell = SSHCapability("channel.shell", summary: "Interactive shell")
    /// The exit signal of a command killed by a signal.
    public static let exitSignal = SSHCapability("channel.exit-signal", summary: "Exit signal of a killed command")
    /// Sending a signal to the remote command.
    public static let sendSignal = SSHCapability("channel.send-signal", summary: "Send a signal to the remote command")
    /// Several channels open at once on one session.
    public static let concurrentChannels = SSHCapability(
        "channel.concurrent", summary: "Several channels at once on one session")
    /// Keepalive messages on a timer.
    public static let keepalive = SSHCapability("session.keepalive", summary: "Keepalive messages")
    /// The connection carried by a command's stdin and stdout (OpenSSH's `ProxyCommand`).
    public static let proxyCommand = SSHCapability(
        "session.proxy-command", summary: "ProxyCommand (a command carries the connection)")
    /// Jump hosts in-process: the connection carried by a `direct-tcpip` channel of another session.
    public static let jumpHosts = SSHCapability("session.jump-hosts", summary: "Jump hosts in-process (ProxyJump)")
    /// The local SSH agent forwarded to the server (`ssh -A`), its connections carried by the loop.
    public static let agentForwarding = SSHCapability(
        "session.agent-forwarding", summary: "Agent forwarding (ssh -A), carried by the loop")
    /// zlib compression.
    public static let compression = SSHCapability("session.compression", summary: "Compression")
    /// SFTP file transfer.
    public static let sftp = SSHCapability("transfer.sftp", summary: "SFTP upload and download")
    /// SCP file transfer.
    public static let scp = SSHCapability("transfer.scp", summary: "SCP upload and download")

    /// The server's pre-authentication banner kept for the caller (``SSHSession/authenticationBanner``).
    public static let authenticationBanner = SSHCapability(
        "auth.banner", summary: "The server's pre-authentication banner, for the caller")

    /// The server's host key checked against known-hosts files with OpenSSH's rules, before any credential.
    public static let hostKeyVerification = SSHCapability(
        "hostkey.verify", summary: "Host keys checked against known_hosts before any credential is sent")
    /// RSA host keys negotiated with rsa-sha2-256/512, the only RSA host-key algorithms OpenSSH 8.8+ offers.
    public static let rsaSHA2HostKeys = SSHCapability(
        "hostkey.rsa-sha2", summary: "RSA host keys (rsa-sha2) from OpenSSH >= 8.8")
    /// Host certificates signed by a `@cert-authority` CA.
    public static let hostCertificates = SSHCapability(
        "hostkey.certificate", summary: "Host certificates (@cert-authority)")

    /// Every capability this module defines, in a stable order (the feature matrix lists these).
    public static let all: [SSHCapability] = [
        .passwordAuth, .keyboardInteractiveAuth, .privateKeyFileAuth, .privateKeyMemoryAuth, .keyDecryptedOnce,
        .agentAuth,
        .rsaSHA2UserKeys, .userCertificates, .gssapiAuth, .authenticationBanner, .hostKeyVerification, .rsaSHA2HostKeys,
        .hostCertificates, .exec, .pty,
        .environment, .shell, .exitSignal, .sendSignal, .concurrentChannels, .keepalive, .proxyCommand, .jumpHosts,
        .agentForwarding, .compression, .sftp, .scp,
    ]
}
