import CLibSSH2
import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
import Glibc
#endif

/// Tries the configured authentication methods in order, non-blocking, recording each attempt.
final class LibSSH2Authenticator {
    enum Outcome {
        case wouldBlock
        case succeeded
        case failed(SSHError)
    }

    private let options: SSHConnectionOptions
    private let user: String
    private let userLength: UInt32
    private let attempts: [AuthAttempt]
    private var index = 0
    private var serverMethods: [String]?
    private var tried: [SSHAuthAttempt] = []
    private var onlyKeyProblems = true
    private var agent: AgentState?

    private final class AgentState {
        let handle: OpaquePointer
        var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
        var listed = false
        var count = 0
        init(handle: OpaquePointer) { self.handle = handle }
    }

    init(options: SSHConnectionOptions) {
        self.options = options
        self.user = options.user
        self.userLength = UInt32(options.user.utf8.count)
        self.attempts = AuthAttempt.plan(options.authMethods)
    }

    deinit { releaseAgent() }

    func step(_ connection: LibSSH2Connection) -> Outcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if serverMethods == nil {
            if let list = libssh2_userauth_list(session, user, userLength) {
                serverMethods = String(cString: list).split(separator: ",").map(String.init)
            } else if libssh2_userauth_authenticated(session) != 0 {
                return .succeeded  // the server accepted "none"
            } else if clibssh2_last_errno(session) == LIBSSH2_ERROR_EAGAIN {
                return .wouldBlock
            } else {
                return .failed(connection.nativeError(.authenticationFailed, "the server sent no authentication methods"))
            }
        }
        while index < attempts.count {
            let attempt = attempts[index]
            let offered = serverMethods ?? []
            if !offered.contains(attempt.protocolMethod) {
                record(attempt, "not offered by the server (it offers \(offered.joined(separator: ", ")))", keyProblem: false)
                continue
            }
            switch run(attempt, session: session, connection: connection) {
            case .wouldBlock: return .wouldBlock
            case .succeeded: return .succeeded
            case .failed(let error): return .failed(error)
            }
        }
        let summary = "authentication as \(user) to \(options.host):\(options.port) failed"
        if onlyKeyProblems && !tried.isEmpty {
            return .failed(SSHError(.invalidKey, host: options.host, port: options.port,
                                    message: "no usable private key: " + tried.map(\.description).joined(separator: "; "),
                                    attempts: tried))
        }
        return .failed(SSHError(.authenticationFailed, host: options.host, port: options.port,
                                message: tried.isEmpty ? "\(summary): no method left to try" : summary, attempts: tried))
    }

    private func record(_ attempt: AuthAttempt, _ outcome: String, keyProblem: Bool) {
        tried.append(SSHAuthAttempt(method: attempt.description, outcome: outcome))
        if !keyProblem { onlyKeyProblems = false }
        index += 1
    }

    /// Runs one attempt; `.failed` only for errors that end authentication (the transport broke).
    private func run(_ attempt: AuthAttempt, session: OpaquePointer, connection: LibSSH2Connection) -> Outcome {
        let rc: Int32
        switch attempt {
        case .keyFile(let path, let passphrase, let explicit):
            guard access(path, R_OK) == 0 else {
                let reason = errno == ENOENT ? "file not found" : String(cString: strerror(errno))
                record(attempt, "cannot read \(path): \(reason)", keyProblem: explicit)
                return step(connection)
            }
            rc = libssh2_userauth_publickey_fromfile_ex(session, user, userLength, nil, path, passphrase ?? "")
        case .keyData(let key, let passphrase):
            rc = key.bytes.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    libssh2_userauth_publickey_frommemory(session, user, Int(userLength), nil, 0, chars.baseAddress,
                                                           chars.count, passphrase ?? "")
                }
            }
        case .password(let password):
            rc = clibssh2_userauth_password(session, user, userLength, password, UInt32(password.utf8.count))
        case .keyboardInteractive(let responder):
            connection.keyboardInteractiveResponder = responder
            rc = libssh2_userauth_keyboard_interactive_ex(session, user, userLength, keyboardInteractiveCallback)
            if rc != LIBSSH2_ERROR_EAGAIN { connection.keyboardInteractiveResponder = nil }
        case .agent(let socketPath):
            return runAgent(attempt, socketPath: socketPath, session: session, connection: connection)
        }
        return conclude(attempt, rc: rc, session: session, connection: connection)
    }

    private func conclude(_ attempt: AuthAttempt, rc: Int32, session: OpaquePointer, connection: LibSSH2Connection) -> Outcome {
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        if rc == 0 { return .succeeded }
        if isTransportError(rc) {
            return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
        }
        let native = connection.nativeError(.authenticationFailed, "")
        let detail = native.nativeMessage ?? ""
        let denied = rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
        switch rc {
        case LIBSSH2_ERROR_FILE, LIBSSH2_ERROR_KEYFILE_AUTH_FAILED:
            record(attempt, "the key could not be read or decrypted (wrong passphrase or unsupported format): \(detail)",
                   keyProblem: attempt.isExplicitKey)
        case _ where denied && attempt.isKey && attempt.looksLikeRSA:
            record(attempt, Self.rsaAdvice, keyProblem: false)
        case _ where denied:
            record(attempt, "denied by the server\(detail.isEmpty ? "" : " (\(detail))")", keyProblem: false)
        default:
            record(attempt, "failed: \(detail) (libssh2 code \(rc))", keyProblem: false)
        }
        return step(connection)
    }

    /// Why an RSA key fails with this libssh2: it signs with ssh-rsa (SHA-1), which OpenSSH 8.8+ rejects.
    static let rsaAdvice = "denied: libssh2 \(LibSSH2Library.version) signs RSA keys with ssh-rsa (SHA-1), which "
        + "OpenSSH 8.8 and later reject; use an ed25519 or ECDSA key, or the libssh engine"

    private func runAgent(_ attempt: AuthAttempt, socketPath: String?, session: OpaquePointer,
                          connection: LibSSH2Connection) -> Outcome {
        if agent == nil {
            let path = socketPath ?? getenv("SSH_AUTH_SOCK").map { String(cString: $0) }
            guard let path, !path.isEmpty else {
                record(attempt, "skipped: SSH_AUTH_SOCK is not set", keyProblem: false)
                return step(connection)
            }
            guard let handle = libssh2_agent_init(session) else {
                record(attempt, "libssh2 could not create an agent handle", keyProblem: false)
                return step(connection)
            }
            libssh2_agent_set_identity_path(handle, path)
            agent = AgentState(handle: handle)
            // The agent is a local UNIX socket; libssh2 talks to it with blocking I/O (short, local).
            if libssh2_agent_connect(handle) != 0 {
                releaseAgent()
                record(attempt, "cannot connect to the agent at \(path)", keyProblem: false)
                return step(connection)
            }
        }
        guard let agent else { return step(connection) }
        if !agent.listed {
            if libssh2_agent_list_identities(agent.handle) != 0 {
                releaseAgent()
                record(attempt, "the agent did not list its keys", keyProblem: false)
                return step(connection)
            }
            agent.listed = true
            agent.identity = nil
            if !advanceIdentity(agent) {
                releaseAgent()
                record(attempt, "the agent holds no keys", keyProblem: false)
                return step(connection)
            }
        }
        while let identity = agent.identity {
            let rc = libssh2_agent_userauth(agent.handle, user, identity)
            if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
            if rc == 0 {
                releaseAgent()
                return .succeeded
            }
            if isTransportError(rc) {
                releaseAgent()
                return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
            }
            if !advanceIdentity(agent) { break }
        }
        let count = agent.count
        releaseAgent()
        record(attempt, "denied by the server for all \(count) agent key(s)", keyProblem: false)
        return step(connection)
    }

    private func advanceIdentity(_ agent: AgentState) -> Bool {
        var nextIdentity: UnsafeMutablePointer<libssh2_agent_publickey>?
        let rc = libssh2_agent_get_identity(agent.handle, &nextIdentity, agent.identity)
        guard rc == 0, let nextIdentity else {
            agent.identity = nil
            return false
        }
        agent.identity = nextIdentity
        agent.count += 1
        return true
    }

    private func releaseAgent() {
        guard let agent else { return }
        libssh2_agent_disconnect(agent.handle)
        libssh2_agent_free(agent.handle)
        self.agent = nil
    }
}

/// One concrete thing to try, expanded from the caller's ``SSHAuthMethod`` list.
enum AuthAttempt: CustomStringConvertible {
    case keyFile(path: String, passphrase: String?, explicit: Bool)
    case keyData(SSHPrivateKeyData, passphrase: String?)
    case agent(socketPath: String?)
    case password(String)
    case keyboardInteractive(SSHKeyboardInteractiveResponder)

    /// The default identity file names, in OpenSSH's order.
    static let defaultIdentityNames = ["id_rsa", "id_ecdsa", "id_ed25519"]

    static func plan(_ methods: [SSHAuthMethod]) -> [AuthAttempt] {
        methods.flatMap { method -> [AuthAttempt] in
            switch method {
            case .privateKeyFile(let path, let passphrase):
                return [.keyFile(path: expandTilde(path), passphrase: passphrase, explicit: true)]
            case .privateKey(let data, let passphrase):
                return [.keyData(data, passphrase: passphrase)]
            case .agent(let socketPath):
                return [.agent(socketPath: socketPath)]
            case .defaultIdentities(let directory, let passphrase):
                let base = expandTilde(directory)
                return defaultIdentityNames.map { "\(base)/\($0)" }.filter { (path: String) in access(path, F_OK) == 0 }
                    .map { .keyFile(path: $0, passphrase: passphrase, explicit: false) }
            case .password(let password):
                return [.password(password)]
            case .keyboardInteractive(let responder):
                return [.keyboardInteractive(responder)]
            }
        }
    }

    /// The SSH protocol's name for the method.
    var protocolMethod: String {
        switch self {
        case .keyFile, .keyData, .agent: return "publickey"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        }
    }

    var isKey: Bool {
        switch self {
        case .keyFile, .keyData: return true
        default: return false
        }
    }

    var isExplicitKey: Bool {
        switch self {
        case .keyFile(_, _, let explicit): return explicit
        case .keyData: return true
        default: return false
        }
    }

    /// Whether the key is an RSA key (PEM header, or `ssh-rsa` inside an OpenSSH key).
    var looksLikeRSA: Bool {
        switch self {
        case .keyFile(let path, _, _): return KeyFileInspector.isRSA(path: path)
        case .keyData(let data, _): return KeyFileInspector.isRSA(bytes: data.bytes)
        default: return false
        }
    }

    var description: String {
        switch self {
        case .keyFile(let path, _, _): return "publickey (\(path))"
        case .keyData: return "publickey (key from memory)"
        case .agent: return "publickey (agent)"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        }
    }
}

/// Expands a leading `~` to `$HOME`.
func expandTilde(_ path: String) -> String {
    guard path.hasPrefix("~"), let home = getenv("HOME").map({ String(cString: $0) }) else { return path }
    return home + path.dropFirst()
}

/// Answers keyboard-interactive prompts through the connection's responder. libssh2 hands back the session's
/// abstract pointer, which is the ``LibSSH2Connection``; this runs on its loop thread, inside the auth call.
private let keyboardInteractiveCallback: @convention(c) (
    UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, Int32, Int32,
    UnsafePointer<LIBSSH2_USERAUTH_KBDINT_PROMPT>?, UnsafeMutablePointer<LIBSSH2_USERAUTH_KBDINT_RESPONSE>?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Void = { name, nameLength, instruction, instructionLength, count, prompts, responses, abstract in
    func text(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }
    guard let responses, count > 0 else { return }
    let responder = abstract?.pointee.map {
        Unmanaged<LibSSH2Connection>.fromOpaque($0).takeUnretainedValue().keyboardInteractiveResponder
    } ?? nil
    for index in 0..<Int(count) {
        let prompt = prompts?[index]
        let question = SSHKeyboardInteractivePrompt(
            name: text(name, Int(nameLength)), instruction: text(instruction, Int(instructionLength)),
            prompt: text(prompt?.text, Int(prompt?.length ?? 0)), echo: (prompt?.echo ?? 0) != 0)
        let answer = responder?.answer(question) ?? ""
        let copy = strdup(answer)  // libssh2 frees responses with its allocator (malloc by default)
        responses[index].text = copy
        responses[index].length = UInt32(answer.utf8.count)
    }
}
