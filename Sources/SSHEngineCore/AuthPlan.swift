import SSHBackend

#if canImport(Glibc)
import Glibc
#endif

/// One concrete thing to try, expanded from the caller's ``SSHAuthMethod`` list. Both engines authenticate from
/// the same plan, so they try the same things in the same order and describe them the same way.
package enum AuthAttempt: CustomStringConvertible {
    case keyFile(path: String, passphrase: String?, explicit: Bool)
    case keyData(SSHPrivateKeyData, passphrase: String?)
    case certificate(keyPath: String, certificatePath: String, passphrase: String?)
    case agent(socketPath: String?)
    case password(String)
    case keyboardInteractive(SSHKeyboardInteractiveResponder)

    /// The default identity file names, in OpenSSH's order.
    package static let defaultIdentityNames = ["id_rsa", "id_ecdsa", "id_ed25519"]

    /// Expands `methods` in order: default identities become the files that exist, `~` is expanded.
    package static func plan(_ methods: [SSHAuthMethod]) -> [AuthAttempt] {
        methods.flatMap { method -> [AuthAttempt] in
            switch method {
            case .privateKeyFile(let path, let passphrase):
                return [.keyFile(path: expandTilde(path), passphrase: passphrase, explicit: true)]
            case .privateKey(let data, let passphrase):
                return [.keyData(data, passphrase: passphrase)]
            case .certificate(let keyPath, let certificatePath, let passphrase):
                return [.certificate(keyPath: expandTilde(keyPath), certificatePath: expandTilde(certificatePath),
                                     passphrase: passphrase)]
            case .agent(let socketPath):
                return [.agent(socketPath: socketPath)]
            case .defaultIdentities(let directory, let passphrase):
                let base = expandTilde(directory)
                return defaultIdentityNames.map { "\(base)/\($0)" }.filter { (path: String) in access(path, F_OK) == 0 }
                    .map { .keyFile(path: $0, passphrase: passphrase, explicit: false) }
            case .identityFiles(let paths, let passphrase):
                return paths.map(expandTilde).filter { access($0, F_OK) == 0 }.flatMap { path -> [AuthAttempt] in
                    let key = AuthAttempt.keyFile(path: path, passphrase: passphrase, explicit: false)
                    guard access(path + "-cert.pub", F_OK) == 0 else { return [key] }
                    return [.certificate(keyPath: path, certificatePath: path + "-cert.pub", passphrase: passphrase), key]
                }
            case .password(let password):
                return [.password(password)]
            case .keyboardInteractive(let responder):
                return [.keyboardInteractive(responder)]
            }
        }
    }

    /// The SSH protocol's name for the method.
    package var protocolMethod: String {
        switch self {
        case .keyFile, .keyData, .certificate, .agent: return "publickey"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        }
    }

    /// Whether this is a private key the caller named (a problem with it alone makes the error `invalidKey`).
    package var isExplicitKey: Bool {
        switch self {
        case .keyFile(_, _, let explicit): return explicit
        case .keyData, .certificate: return true
        default: return false
        }
    }

    /// Whether the attempt signs with a private key of its own (file, memory or certificate).
    package var isKey: Bool {
        switch self {
        case .keyFile, .keyData, .certificate: return true
        default: return false
        }
    }

    /// The key file to read, if the attempt has one and it cannot be read: the reason, for the attempt list.
    package var unreadableKeyFile: String? {
        let path: String
        switch self {
        case .keyFile(let keyPath, _, _): path = keyPath
        case .certificate(let keyPath, let certificatePath, _):
            if let reason = Self.unreadable(certificatePath) { return reason }
            path = keyPath
        default: return nil
        }
        return Self.unreadable(path)
    }

    private static func unreadable(_ path: String) -> String? {
        guard access(path, R_OK) != 0 else { return nil }
        let reason = errno == ENOENT ? "file not found" : String(cString: strerror(errno))
        return "cannot read \(path): \(reason)"
    }

    public var description: String {
        switch self {
        case .keyFile(let path, _, _): return "publickey (\(path))"
        case .keyData: return "publickey (key from memory)"
        case .certificate(_, let certificatePath, _): return "publickey (certificate \(certificatePath))"
        case .agent: return "publickey (agent)"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        }
    }
}

/// The bookkeeping of one authentication run, shared by the engines: which attempt is next, what each tried
/// attempt came to, and the error that sums them up when none succeeds.
package struct AuthProgress {
    private let attempts: [AuthAttempt]
    private let options: SSHConnectionOptions
    private var index = 0
    private var tried: [SSHAuthAttempt] = []
    private var onlyKeyProblems = true
    /// The methods the server offers, once known (from its answer to the "none" request).
    package var serverMethods: [String]?

    /// Plans the attempts for `options`.
    package init(options: SSHConnectionOptions) {
        self.options = options
        self.attempts = AuthAttempt.plan(options.authMethods)
    }

    /// The next attempt to run, recording those the server does not offer and key files that cannot be read.
    package mutating func next() -> AuthAttempt? {
        while index < attempts.count {
            let attempt = attempts[index]
            let offered = serverMethods ?? []
            if serverMethods != nil, !offered.contains(attempt.protocolMethod) {
                record("not offered by the server (it offers \(offered.joined(separator: ", ")))", keyProblem: false)
                continue
            }
            if let reason = attempt.unreadableKeyFile {
                record(reason, keyProblem: attempt.isExplicitKey)
                continue
            }
            return attempt
        }
        return nil
    }

    /// Records how the current attempt ended and moves on. `keyProblem`: the key itself was unusable.
    package mutating func record(_ outcome: String, keyProblem: Bool) {
        tried.append(SSHAuthAttempt(method: attempts[index].description, outcome: outcome))
        if !keyProblem { onlyKeyProblems = false }
        index += 1
    }

    /// The error once every attempt failed: `invalidKey` when only the caller's keys were at fault, else
    /// `authenticationFailed`; both list every attempt.
    package var exhaustedError: SSHError {
        if onlyKeyProblems && !tried.isEmpty {
            return SSHError(.invalidKey, host: options.host, port: options.port,
                            message: "no usable private key: " + tried.map(\.description).joined(separator: "; "),
                            attempts: tried)
        }
        let summary = "authentication as \(options.user) to \(options.host):\(options.port) failed"
        return SSHError(.authenticationFailed, host: options.host, port: options.port,
                        message: tried.isEmpty ? "\(summary): no method left to try" : summary, attempts: tried)
    }
}
