/// One way to authenticate. ``SSHConnectionOptions/authMethods`` lists them in the order to try; the first
/// that the server accepts wins, and if none does the error lists every attempt.
public enum SSHAuthMethod: Sendable {
    /// A private key file (OpenSSH or PEM format), with an optional passphrase. `~` is expanded.
    case privateKeyFile(path: String, passphrase: String? = nil)
    /// A private key held in memory (the text of a key file), with an optional passphrase.
    case privateKey(SSHPrivateKeyData, passphrase: String? = nil)
    /// An OpenSSH user certificate (`ssh-keygen -s` output, usually `<key>-cert.pub`) with its private key file.
    /// Needs ``SSHCapability/userCertificates``; `~` is expanded in both paths.
    case certificate(keyPath: String, certificatePath: String, passphrase: String? = nil)
    /// Keys held by an SSH agent. `socketPath` defaults to the `SSH_AUTH_SOCK` environment variable.
    case agent(socketPath: String? = nil)
    /// The usual identity files (`id_ed25519`, `id_ecdsa`, `id_rsa`) in `directory` (default `~/.ssh`);
    /// missing files are skipped.
    case defaultIdentities(directory: String = "~/.ssh", passphrase: String? = nil)
    /// Key files tried in order, as ssh_config's `IdentityFile` lines: missing files are skipped, and a file with
    /// a `<file>-cert.pub` beside it is tried with that certificate first (unless the list has
    /// ``certificateFiles(_:)``, as ssh then loads no such file). `~` is expanded.
    case identityFiles([String], passphrase: String? = nil)
    /// OpenSSH user certificates, as ssh_config's `CertificateFile` lines: each is tried before any other key,
    /// with the private key among this list's ``privateKeyFile(path:passphrase:)``, ``identityFiles(_:passphrase:)``
    /// and ``defaultIdentities(directory:passphrase:)`` whose public key it carries (with their passphrase); a
    /// certificate no such key matches is not offered. Needs ``SSHCapability/userCertificates``; `~` is expanded.
    case certificateFiles([String])
    /// A password.
    case password(String)
    /// Keyboard-interactive: `responder` answers each prompt the server sends.
    case keyboardInteractive(SSHKeyboardInteractiveResponder)
    /// Kerberos through GSSAPI (`gssapi-with-mic`), with the tickets of the credential cache (`kinit`; the
    /// `KRB5CCNAME` environment variable names it). Needs ``SSHCapability/gssapiAuth``.
    case gssapi(SSHGSSAPIOptions = SSHGSSAPIOptions())

    /// Keyboard-interactive answering every prompt with `password` (what most PAM set-ups ask).
    public static func keyboardInteractive(password: String) -> SSHAuthMethod {
        var responder = SSHKeyboardInteractiveResponder { _ in password }
        responder.fixedAnswer = password
        return .keyboardInteractive(responder)
    }

    /// What a user gets when they give nothing: the agent (when `SSH_AUTH_SOCK` is set), then default identities.
    public static let defaults: [SSHAuthMethod] = [.agent(), .defaultIdentities()]
}

/// The text of a private key, kept out of `description` so it never lands in logs.
public struct SSHPrivateKeyData: Sendable, CustomStringConvertible {
    /// The key file's bytes.
    public let bytes: [UInt8]

    /// Creates key data from the text of a key file.
    public init(_ text: String) { self.bytes = Array(text.utf8) }
    /// Creates key data from the bytes of a key file.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { "<private key, \(bytes.count) bytes>" }
}

/// A prompt from a keyboard-interactive exchange.
public struct SSHKeyboardInteractivePrompt: Sendable {
    /// The exchange's name, as the server sent it (often empty).
    public var name: String
    /// The server's instruction line (often empty).
    public var instruction: String
    /// The prompt text, e.g. `"Password: "`.
    public var prompt: String
    /// Whether the answer may be echoed (false for secrets).
    public var echo: Bool

    /// Creates a prompt.
    public init(name: String, instruction: String, prompt: String, echo: Bool) {
        self.name = name
        self.instruction = instruction
        self.prompt = prompt
        self.echo = echo
    }
}

/// Answers keyboard-interactive prompts. Called on an engine thread: it must return quickly and never block.
public struct SSHKeyboardInteractiveResponder: Sendable {
    /// The answering function.
    public let answer: @Sendable (SSHKeyboardInteractivePrompt) -> String
    /// The one answer given to every prompt, when the responder was made from a password (two such responders
    /// with the same password are the same credential: a jump connection made with one may serve the other).
    package var fixedAnswer: String?

    /// Creates a responder.
    public init(_ answer: @escaping @Sendable (SSHKeyboardInteractivePrompt) -> String) {
        self.answer = answer
    }
}

/// How Kerberos (GSSAPI) authentication is done: ssh_config's `GSSAPIDelegateCredentials`,
/// `GSSAPIServerIdentity` and `GSSAPIClientIdentity`, and parallel-ssh's `gssapi_*` parameters.
public struct SSHGSSAPIOptions: Hashable, Sendable {
    /// Whether the ticket-granting ticket is forwarded to the server (`ssh -K`), so that commands there hold
    /// Kerberos credentials of their own.
    public var delegateCredentials: Bool
    /// The host name of the service principal asked for (`host@<name>`), when not the host connected to.
    public var serverIdentity: String?
    /// The client principal whose tickets are used (in a credential cache collection), when not the default one.
    public var clientIdentity: String?

    /// Creates the options; the defaults are ssh's (no delegation, the host's own principal, the default client).
    public init(delegateCredentials: Bool = false, serverIdentity: String? = nil, clientIdentity: String? = nil) {
        self.delegateCredentials = delegateCredentials
        self.serverIdentity = serverIdentity
        self.clientIdentity = clientIdentity
    }
}

/// Expands a leading `~` (alone or before `/`) to `$HOME`, as the paths of ``SSHAuthMethod`` are read.
package func expandTilde(_ path: String) -> String {
    guard path == "~" || path.hasPrefix("~/"), let home = environment("HOME") else { return path }
    return home + path.dropFirst()
}

extension SSHAuthMethod: CustomReflectable {
    /// A mirror without the secrets (for `dump`).
    public var customMirror: Mirror { Mirror(self, children: ["method": description]) }
}
