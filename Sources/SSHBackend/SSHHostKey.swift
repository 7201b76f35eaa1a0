#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server's public host key as presented during key exchange: the algorithm negotiated and the key blob (the
/// SSH wire encoding, as in a `known_hosts` line after base64 decoding).
public struct SSHHostKey: Sendable, Hashable {
    /// The host-key algorithm negotiated, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`.
    public var algorithm: String
    /// The public key blob.
    public var blob: [UInt8]

    /// Creates a host key.
    public init(algorithm: String, blob: [UInt8]) {
        self.algorithm = algorithm
        self.blob = blob
    }
}

/// How a connection checks the server's host key, OpenSSH's `StrictHostKeyChecking` and the files it reads.
///
/// The default verifies: a host whose key is not known fails with an error saying how to trust it, and a changed
/// or revoked key always fails. Checking is turned off only by naming ``Mode-swift.enum/off``.
public struct SSHHostKeyPolicy: Sendable {
    /// What to do with a host whose key is not known yet (a changed or revoked key fails in every mode but
    /// ``off``).
    public enum Mode: Sendable {
        /// Fail (OpenSSH `StrictHostKeyChecking yes`, and `ask` without a terminal).
        case strict
        /// Add the key to the first user known-hosts file and connect (OpenSSH `accept-new`).
        case acceptNew
        /// Ask `prompter`, which receives new hosts in batches and answers for each (OpenSSH `ask`).
        case ask(SSHHostKeyPrompter)
        /// Connect whatever the key; unknown keys are added (unless ``SSHHostKeyPolicy/recordsNewKeys`` is
        /// false), and with a changed or revoked key password and keyboard-interactive authentication are not
        /// offered and ``SSHHostKeyPolicy/warningHandler`` is told (OpenSSH `no`/`off`). Insecure: say it by name.
        case off
    }

    /// The mode (default ``Mode-swift.enum/strict``: OpenSSH's default `ask`, without anyone to ask).
    public var mode: Mode
    /// OpenSSH's `UserKnownHostsFile`: read, and the first one written to (default `~/.ssh/known_hosts`,
    /// `~/.ssh/known_hosts2`). `~` is expanded.
    public var userKnownHostsFiles: [String]
    /// OpenSSH's `GlobalKnownHostsFile`: read only (default `/etc/ssh/ssh_known_hosts`,
    /// `/etc/ssh/ssh_known_hosts2`).
    public var globalKnownHostsFiles: [String]
    /// The name to look the key up under instead of the host (OpenSSH `HostKeyAlias`).
    public var hostKeyAlias: String?
    /// Write new entries hashed (OpenSSH `HashKnownHosts`; default `false`, as upstream OpenSSH).
    public var hashKnownHosts: Bool
    /// A decision of the caller's own, replacing the known-hosts files (as swift-nio-ssh's server
    /// authentication delegate); `nil` to use the files.
    public var verifier: (any SSHHostKeyVerifier)?
    /// Whether a key accepted for a host not known yet is added to the first user file (default `true`, as
    /// OpenSSH's `accept-new` and `no` do; ``insecureAcceptAnything`` writes nothing).
    public var recordsNewKeys = true
    /// Told, with the host, port and a sentence, when a key is accepted only because checking is
    /// ``Mode-swift.enum/off`` although it is changed or revoked (the connection then goes on without password
    /// and keyboard-interactive authentication). `nil` (the default) writes the sentence to standard error, as
    /// `ssh` prints its man-in-the-middle warning.
    public var warningHandler: (@Sendable (_ host: String, _ port: Int, _ warning: String) -> Void)?

    /// Creates a policy; the defaults are OpenSSH's.
    public init(
        mode: Mode = .strict,
        userKnownHostsFiles: [String] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"],
        globalKnownHostsFiles: [String] = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"],
        hostKeyAlias: String? = nil, hashKnownHosts: Bool = false,
        verifier: (any SSHHostKeyVerifier)? = nil
    ) {
        self.mode = mode
        self.userKnownHostsFiles = userKnownHostsFiles
        self.globalKnownHostsFiles = globalKnownHostsFiles
        self.hostKeyAlias = hostKeyAlias
        self.hashKnownHosts = hashKnownHosts
        self.verifier = verifier
    }

    /// Checking off, by name: every key is accepted (see ``Mode-swift.enum/off``). The default known-hosts
    /// files are still read, so a changed or revoked key is recognised: the connection then goes on without
    /// password or keyboard-interactive authentication and with a warning (``warningHandler``). Nothing is
    /// written to them.
    public static var insecureAcceptAnything: SSHHostKeyPolicy {
        var policy = SSHHostKeyPolicy(mode: .off)
        policy.recordsNewKeys = false
        return policy
    }

    /// Hands `warning` about `host:port` to ``warningHandler``, or writes it to standard error.
    public func warn(host: String, port: Int, _ warning: String) {
        if let warningHandler {
            warningHandler(host, port, warning)
        } else {
            let name = port == 22 ? host : "[\(host)]:\(port)"
            var text = Array("\(name): \(warning)\n".utf8)
            text.withUnsafeMutableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
}

/// A new host's key, for an ``SSHHostKeyPolicy/Mode-swift.enum/ask(_:)`` prompt.
public struct SSHHostKeyQuestion: Sendable, Hashable, CustomStringConvertible {
    /// The host as connected to.
    public var host: String
    /// The port.
    public var port: Int
    /// The key type as OpenSSH prints it, e.g. `ED25519`, `ECDSA`, `RSA`.
    public var keyType: String
    /// `SHA256:` and the unpadded base64 of the key's SHA-256, as `ssh-keygen -l` prints it.
    public var fingerprint: String

    /// Creates a question.
    public init(host: String, port: Int, keyType: String, fingerprint: String) {
        self.host = host
        self.port = port
        self.keyType = keyType
        self.fingerprint = fingerprint
    }

    public var description: String {
        "\(port == 22 ? host : "[\(host)]:\(port)") (\(keyType) key fingerprint \(fingerprint))"
    }
}

/// Answers ``SSHHostKeyQuestion``s in batches: hosts first seen close together arrive together, and the answer
/// lists, in the same order, whether to trust each (a trusted key is added to the known-hosts file).
public struct SSHHostKeyPrompter: Sendable {
    /// The deciding function.
    public let decide: @Sendable ([SSHHostKeyQuestion]) async -> [Bool]
    /// Tells prompters apart: questions are batched per prompter.
    package let identity = Identity()

    /// Creates a prompter.
    public init(_ decide: @escaping @Sendable ([SSHHostKeyQuestion]) async -> [Bool]) {
        self.decide = decide
    }

    /// An identity token.
    package final class Identity: Sendable {
        init() {}
    }
}

/// A caller's own host-key decision (replacing the known-hosts files).
public protocol SSHHostKeyVerifier: Sendable {
    /// Decides on `key`, which `host:port` presented after key exchange; nothing has been sent to it yet.
    /// - Throws: an error to refuse the host (an ``SSHError`` with code ``SSHError/Code/hostKeyUnknown`` or
    ///   ``SSHError/Code/hostKeyChanged`` reads best); returning accepts it.
    func verify(_ key: SSHHostKey, host: String, port: Int) async throws
}
