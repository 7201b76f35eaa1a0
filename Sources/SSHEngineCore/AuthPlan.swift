import SSHBackend
import SSHEventLoop
import SSHPrivateKeys
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A key or certificate file as read before the connection started, off the loops.
package struct FileBytes: Sendable {
    /// The file.
    package let path: String
    /// Its contents, or `nil` when it could not be read.
    package let bytes: [UInt8]?
    /// Why not (`errno`), when it could not be read.
    package let errorNumber: Int32

    /// Reads `path` (a blocking call: never on a loop).
    package static func read(_ path: String) -> FileBytes {
        let bytes = PrivateKeyFile.contents(ofFile: path)
        return FileBytes(path: path, bytes: bytes, errorNumber: bytes == nil ? errno : 0)
    }

    /// Why the file cannot be used, for the attempt list; `nil` when it was read.
    package var problem: String? {
        guard bytes == nil else { return nil }
        let reason = errorNumber == ENOENT ? "file not found" : String(cString: strerror(errorNumber))
        return "cannot read \(path): \(reason)"
    }

    /// Whether reading failed because the process ran out of file descriptors (which ends authentication).
    package var descriptorsExhausted: Bool { bytes == nil && (errorNumber == EMFILE || errorNumber == ENFILE) }
}

/// One concrete thing to try, expanded from the caller's ``SSHAuthMethod`` list before the connection starts
/// (files read, the agent connected and listed: blocking work, off the loops). Both engines authenticate from the
/// same plan, so they try the same things in the same order and describe them the same way.
package enum AuthAttempt: CustomStringConvertible, Sendable {
    case keyFile(path: String, passphrase: String?, explicit: Bool, file: FileBytes)
    case keyData(SSHPrivateKeyData, passphrase: String?)
    case certificate(
        keyPath: String, certificatePath: String, passphrase: String?, key: FileBytes, certificate: FileBytes)
    case agent(AgentClient.Preparation)
    case password(String)
    case keyboardInteractive(SSHKeyboardInteractiveResponder)
    case gssapi(SSHGSSAPIOptions)

    /// The default identity file names, in OpenSSH's order.
    package static let defaultIdentityNames = ["id_rsa", "id_ecdsa", "id_ed25519"]

    /// Expands `methods` in order: default identities become the files that exist, `~` is expanded, key and
    /// certificate files are read and the agent is connected and listed. Blocking: call off the loops
    /// (``prepare(_:parse:)``).
    package static func plan(_ methods: [SSHAuthMethod]) -> [AuthAttempt] {
        func key(_ path: String, _ passphrase: String?, explicit: Bool) -> AuthAttempt {
            .keyFile(path: path, passphrase: passphrase, explicit: explicit, file: .read(path))
        }
        func certificate(_ keyPath: String, _ certificatePath: String, _ passphrase: String?) -> AuthAttempt {
            .certificate(
                keyPath: keyPath, certificatePath: certificatePath, passphrase: passphrase,
                key: .read(keyPath), certificate: .read(certificatePath))
        }
        // ssh_config's CertificateFile: matched against the identity files and default identities of the list.
        let certificateFiles = methods.flatMap { method -> [String] in
            if case .certificateFiles(let files) = method { files.map(expandTilde) } else { [] }
        }
        let candidates: [(path: String, passphrase: String?)] = methods.flatMap { method -> [(String, String?)] in
            switch method {
            case .identityFiles(let paths, let passphrase): paths.map { (expandTilde($0), passphrase) }
            case .privateKeyFile(let path, let passphrase): [(expandTilde(path), passphrase)]
            case .defaultIdentities(let directory, let passphrase):
                defaultIdentityNames.map { ("\(expandTilde(directory))/\($0)", passphrase) }
            default: []
            }
        }
        return methods.flatMap { method -> [AuthAttempt] in
            switch method {
            case .certificateFiles:
                return certificateFiles.compactMap { path -> AuthAttempt? in
                    guard let text = PrivateKeyFile.contents(ofFile: path) else { return nil }
                    let match = candidates.first { candidate in
                        let blob = CertifiedKey.publicKeyBlob(
                            privateKeyFile: PrivateKeyFile.contents(ofFile: candidate.path),
                            publicKeyFile: PrivateKeyFile.contents(ofFile: candidate.path + ".pub"))
                        return blob.map { CertifiedKey.certificate(text, certifies: $0) } ?? false
                    }
                    return match.map { certificate($0.path, path, $0.passphrase) }
                }
            case .privateKeyFile(let path, let passphrase):
                return [key(expandTilde(path), passphrase, explicit: true)]
            case .privateKey(let data, let passphrase):
                return [.keyData(data, passphrase: passphrase)]
            case .certificate(let keyPath, let certificatePath, let passphrase):
                return [certificate(expandTilde(keyPath), expandTilde(certificatePath), passphrase)]
            case .agent(let socketPath):
                return [.agent(AgentClient.prepare(socketPath: socketPath))]
            case .defaultIdentities(let directory, let passphrase):
                let base = expandTilde(directory)
                return defaultIdentityNames.map { "\(base)/\($0)" }.filter { (path: String) in access(path, F_OK) == 0 }
                    .map { key($0, passphrase, explicit: false) }
            case .identityFiles(let paths, let passphrase):
                return paths.map(expandTilde).filter { access($0, F_OK) == 0 }.flatMap { path -> [AuthAttempt] in
                    let plain = key(path, passphrase, explicit: false)
                    guard certificateFiles.isEmpty, access(path + "-cert.pub", F_OK) == 0 else { return [plain] }
                    return [certificate(path, path + "-cert.pub", passphrase), plain]
                }
            case .password(let password):
                return [.password(password)]
            case .keyboardInteractive(let responder):
                return [.keyboardInteractive(responder)]
            case .gssapi(let options):
                return [.gssapi(options)]
            }
        }
    }

    /// The plan for `methods`, made on the blocking pool's file threads, with every private key handed to
    /// `parse` (the engine's key cache: parsed and decrypted there, once per process, default identities
    /// included) before the connection starts.
    package static func prepare(
        _ methods: [SSHAuthMethod],
        parse: @escaping @Sendable (_ contents: [UInt8], _ passphrase: String?) async -> Void
    )
        async -> [AuthAttempt]
    {
        let attempts: [AuthAttempt]
        let key = AuthPlanCache.key(methods)
        if let key, let recent = AuthPlanCache.shared.plan(for: key) {
            attempts = recent
        } else {
            attempts = await BlockingPool.files.run { plan(methods) }
            if let key { AuthPlanCache.shared.store(attempts, for: key) }
        }
        for attempt in attempts {
            switch attempt {
            case .keyFile(_, let passphrase, _, let file), .certificate(_, _, let passphrase, let file, _):
                if let bytes = file.bytes { await parse(bytes, passphrase) }
            case .keyData(let data, let passphrase):
                await parse(data.bytes, passphrase)
            default:
                break
            }
        }
        return attempts
    }

    /// The SSH protocol's name for the method.
    package var protocolMethod: String {
        switch self {
        case .keyFile, .keyData, .certificate, .agent: return "publickey"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        case .gssapi: return "gssapi-with-mic"
        }
    }

    /// Whether this is a private key the caller named (a problem with it alone makes the error `invalidKey`).
    package var isExplicitKey: Bool {
        switch self {
        case .keyFile(_, _, let explicit, _): return explicit
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

    /// Whether the attempt asks for a password (dropped for a host whose key was accepted only with checking off).
    package var sendsPassword: Bool {
        switch self {
        case .password, .keyboardInteractive: return true
        default: return false
        }
    }

    /// The private key's text, as read before the connection started.
    package var keyBytes: [UInt8]? {
        switch self {
        case .keyFile(_, _, _, let file), .certificate(_, _, _, let file, _): return file.bytes
        case .keyData(let data, _): return data.bytes
        default: return nil
        }
    }

    /// The passphrase of the attempt's key.
    package var passphrase: String? {
        switch self {
        case .keyFile(_, let passphrase, _, _), .certificate(_, _, let passphrase, _, _), .keyData(_, let passphrase):
            return passphrase
        default: return nil
        }
    }

    /// Why the attempt cannot run, known before it is tried (a file that could not be read, an agent that cannot
    /// be used), for the attempt list; `nil` when it can.
    package var knownProblem: String? {
        switch self {
        case .keyFile(_, _, _, let file): return file.problem
        case .certificate(_, _, _, let key, let certificate): return certificate.problem ?? key.problem
        case .agent(.unusable(let reason)): return reason
        default: return nil
        }
    }

    /// Whether the attempt cannot run because the process ran out of file descriptors (ends authentication).
    package var descriptorsExhausted: Bool {
        switch self {
        case .keyFile(_, _, _, let file): return file.descriptorsExhausted
        case .certificate(_, _, _, let key, let certificate):
            return key.descriptorsExhausted || certificate.descriptorsExhausted
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .keyFile(let path, _, _, _): return "publickey (\(path))"
        case .keyData: return "publickey (key from memory)"
        case .certificate(_, let certificatePath, _, _, _): return "publickey (certificate \(certificatePath))"
        case .agent: return "publickey (agent)"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        case .gssapi: return "gssapi-with-mic (Kerberos)"
        }
    }
}

/// Plans made in the last second, by credentials: a fleet connecting with the same key files reads them once a second,
/// not once per host, and skips the blocking pool's hop (two thread wake-ups) for every other host. A file changed
/// is seen within a second, as the known-hosts store sees its files. Plans with an agent are never kept (each holds
/// its own connection to the agent), nor those whose responder cannot be compared.
final class AuthPlanCache: Sendable {
    static let shared = AuthPlanCache()
    private static let lifetime: Duration = .seconds(1)
    private let entries = Mutex<[String: (plan: [AuthAttempt], made: ContinuousClock.Instant)]>([:])

    /// The plan made for the methods of `key` less than a second ago, if any.
    func plan(for key: String) -> [AuthAttempt]? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key], now - entry.made < Self.lifetime else { return nil }
            return entry.plan
        }
    }

    /// Keeps `plan`, just made for the methods of `key` (dropping plans past their second).
    func store(_ plan: [AuthAttempt], for key: String) {
        let now = ContinuousClock.now
        entries.withLock { entries in
            entries = entries.filter { now - $0.value.made < Self.lifetime }
            entries[key] = (plan, now)
        }
    }

    /// The cache key of `methods`, or `nil` when their plan must be made each time.
    static func key(_ methods: [SSHAuthMethod]) -> String? {
        for method in methods {
            if case .agent = method { return nil }
        }
        let key = JumpPoolKey.credentials(methods)
        return key.contains("unique") ? nil : key
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

    /// The host authenticated to.
    package var host: String { options.host }
    /// Its port.
    package var port: Int { options.port }
    /// The index in the plan of the attempt ``next()`` returned.
    package var currentIndex: Int { index }

    /// Bookkeeping for `attempts`, prepared for `options`.
    package init(options: SSHConnectionOptions, attempts: [AuthAttempt]) {
        self.options = options
        self.attempts = attempts
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
            if let reason = attempt.knownProblem {
                if case .agent = attempt {
                    record(reason, keyProblem: false)
                } else {
                    record(reason, keyProblem: attempt.isExplicitKey)
                }
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
            return SSHError(
                .invalidKey, host: options.host, port: options.port,
                message: "no usable private key: " + tried.map(\.description).joined(separator: "; "),
                attempts: tried)
        }
        let summary = "authentication as \(options.user) to \(options.host):\(options.port) failed"
        return SSHError(
            .authenticationFailed, host: options.host, port: options.port,
            message: tried.isEmpty ? "\(summary): no method left to try" : summary, attempts: tried)
    }
}
