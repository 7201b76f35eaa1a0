import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop
import SSHPrivateKeys

#if canImport(Glibc)
import Glibc
#endif

/// Tries the configured authentication methods in order, non-blocking, recording each attempt.
final class LibSSH2Authenticator: NativeAuthenticator {
    private let user: String
    private let userLength: UInt32
    private var progress: AuthProgress
    private var current: AuthAttempt?
    private var agent: AgentState?

    private final class AgentState {
        let handle: OpaquePointer
        var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
        var listed = false
        var count = 0
        init(handle: OpaquePointer) { self.handle = handle }
    }

    init(options: SSHConnectionOptions) {
        self.user = options.user
        self.userLength = UInt32(options.user.utf8.count)
        self.progress = AuthProgress(options: options)
    }

    deinit { releaseAgent() }

    func step(_ connection: LibSSH2Connection) -> NativeStep {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if progress.serverMethods == nil {
            if let list = libssh2_userauth_list(session, user, userLength) {
                progress.serverMethods = String(cString: list).split(separator: ",").map(String.init)
            } else if libssh2_userauth_authenticated(session) != 0 {
                return .done  // the server accepted "none"
            } else if clibssh2_last_errno(session) == LIBSSH2_ERROR_EAGAIN {
                return .wouldBlock
            } else {
                return .failed(connection.nativeError(.authenticationFailed, "the server sent no authentication methods"))
            }
        }
        if current == nil { current = progress.next() }
        guard let attempt = current else { return .failed(progress.exhaustedError) }
        return run(attempt, session: session, connection: connection)
    }

    private func record(_ outcome: String, keyProblem: Bool) {
        progress.record(outcome, keyProblem: keyProblem)
        current = nil
        currentKey = nil
    }

    /// The current attempt's key as the process decrypted it (``LibSSH2KeyCache``), looked up once per attempt
    /// rather than at every step libssh2 would block.
    private var currentKey: PreparedKey?

    private func cachedKey(_ contents: () -> [UInt8]?, passphrase: String?) -> PreparedKey? {
        if currentKey == nil, let bytes = contents() {
            currentKey = PreparedKey(original: bytes, outcome: LibSSH2KeyCache.shared.value(contents: bytes, passphrase: passphrase))
        }
        return currentKey
    }

    /// Runs one attempt; `.failed` only for errors that end authentication (the transport broke).
    private func run(_ attempt: AuthAttempt, session: OpaquePointer, connection: LibSSH2Connection) -> NativeStep {
        let rc: Int32
        switch attempt {
        case .keyFile(let path, let passphrase, _):
            // Decrypted once per process (LibSSH2KeyCache) and handed to libssh2 as text with its public key. A key
            // file that cannot be read, or a key this process cannot decrypt, is left to libssh2 as before.
            guard let key = cachedKey({ PrivateKeyFile.contents(ofFile: path) }, passphrase: passphrase) else {
                rc = libssh2_userauth_publickey_fromfile_ex(session, user, userLength, nil, path, passphrase ?? "")
                break
            }
            guard let code = authenticate(session, key, passphrase: passphrase, attempt) else { return step(connection) }
            rc = code
        case .keyData(let data, let passphrase):
            let key = cachedKey({ data.bytes }, passphrase: passphrase)
                ?? PreparedKey(original: data.bytes, outcome: .notEncrypted(publicKey: nil))
            guard let code = authenticate(session, key, passphrase: passphrase, attempt) else { return step(connection) }
            rc = code
        case .password(let password):
            rc = clibssh2_userauth_password(session, user, userLength, password, UInt32(password.utf8.count))
        case .keyboardInteractive(let responder):
            connection.keyboardInteractiveResponder = responder
            rc = libssh2_userauth_keyboard_interactive_ex(session, user, userLength, keyboardInteractiveCallback)
            if rc != LIBSSH2_ERROR_EAGAIN { connection.keyboardInteractiveResponder = nil }
        case .certificate:
            record("not supported: libssh2 \(LibSSH2Library.version) cannot sign with OpenSSH certificates through "
                   + "this engine; use the libssh engine", keyProblem: false)
            return step(connection)
        case .agent(let socketPath):
            return runAgent(attempt, socketPath: socketPath, session: session, connection: connection)
        }
        return conclude(attempt, rc: rc, session: session, connection: connection)
    }

    /// Public key authentication with a prepared key; `nil` when the process already knows the attempt fails (a wrong
    /// or missing passphrase), which is then recorded.
    private func authenticate(_ session: OpaquePointer, _ key: PreparedKey, passphrase: String?, _ attempt: AuthAttempt) -> Int32? {
        if let reason = key.finalFailure {
            record(reason, keyProblem: attempt.isExplicitKey)
            return nil
        }
        return key.withText { text, decrypted in
            authenticate(session, key: text, publicKey: key.publicKey, passphrase: decrypted ? "" : passphrase ?? "")
        }
    }

    /// Public key authentication with a private key given as text, and its public key as a `.pub` line if known
    /// (else libssh2 derives it from the private key, a second parse).
    private func authenticate(_ session: OpaquePointer, key: UnsafeRawBufferPointer, publicKey: [UInt8]?,
                              passphrase: String) -> Int32 {
        let chars = key.bindMemory(to: CChar.self)
        guard let publicKey else {
            return libssh2_userauth_publickey_frommemory(session, user, Int(userLength), nil, 0, chars.baseAddress,
                                                         chars.count, passphrase)
        }
        return publicKey.withUnsafeBytes { line in
            let pub = line.bindMemory(to: CChar.self)
            return libssh2_userauth_publickey_frommemory(session, user, Int(userLength), pub.baseAddress, pub.count,
                                                         chars.baseAddress, chars.count, passphrase)
        }
    }

    private func conclude(_ attempt: AuthAttempt, rc: Int32, session: OpaquePointer, connection: LibSSH2Connection) -> NativeStep {
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        if rc == 0 { return .done }
        if isTransportError(rc) {
            return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
        }
        let native = connection.nativeError(.authenticationFailed, "")
        let detail = native.nativeMessage ?? ""
        let denied = rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
        switch rc {
        case LIBSSH2_ERROR_FILE where errno == EMFILE || errno == ENFILE:
            // libssh2 could not even open the key file: the process ran out of file descriptors.
            return .failed(connection.error(.resourceExhausted,
                                            "cannot open the key file: \(String(cString: strerror(errno)))"))
        case LIBSSH2_ERROR_FILE, LIBSSH2_ERROR_KEYFILE_AUTH_FAILED:
            record("the key could not be read or decrypted (wrong passphrase or unsupported format): \(detail)",
                   keyProblem: attempt.isExplicitKey)
        case _ where denied && attempt.isKey && attempt.looksLikeRSA:
            record(Self.rsaAdvice, keyProblem: false)
        case _ where denied:
            record("denied by the server\(detail.isEmpty ? "" : " (\(detail))")", keyProblem: false)
        default:
            record("failed: \(detail) (libssh2 code \(rc))", keyProblem: false)
        }
        return step(connection)
    }

    /// Why an RSA key fails with this libssh2: it signs with ssh-rsa (SHA-1), which OpenSSH 8.8+ rejects.
    static let rsaAdvice = "denied: libssh2 \(LibSSH2Library.version) signs RSA keys with ssh-rsa (SHA-1), which "
        + "OpenSSH 8.8 and later reject; use an ed25519 or ECDSA key, or the libssh engine"

    private func runAgent(_ attempt: AuthAttempt, socketPath: String?, session: OpaquePointer,
                          connection: LibSSH2Connection) -> NativeStep {
        if agent == nil {
            let path = socketPath ?? getenv("SSH_AUTH_SOCK").map { String(cString: $0) }
            guard let path, !path.isEmpty else {
                record("skipped: SSH_AUTH_SOCK is not set", keyProblem: false)
                return step(connection)
            }
            guard let handle = libssh2_agent_init(session) else {
                record("libssh2 could not create an agent handle", keyProblem: false)
                return step(connection)
            }
            libssh2_agent_set_identity_path(handle, path)
            agent = AgentState(handle: handle)
            // The agent is a local UNIX socket; libssh2 talks to it with blocking I/O (short, local).
            if libssh2_agent_connect(handle) != 0 {
                releaseAgent()
                record("cannot connect to the agent at \(path)", keyProblem: false)
                return step(connection)
            }
        }
        guard let agent else { return step(connection) }
        if !agent.listed {
            if libssh2_agent_list_identities(agent.handle) != 0 {
                releaseAgent()
                record("the agent did not list its keys", keyProblem: false)
                return step(connection)
            }
            agent.listed = true
            agent.identity = nil
            if !advanceIdentity(agent) {
                releaseAgent()
                record("the agent holds no keys", keyProblem: false)
                return step(connection)
            }
        }
        while let identity = agent.identity {
            let rc = libssh2_agent_userauth(agent.handle, user, identity)
            if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
            if rc == 0 {
                releaseAgent()
                return .done
            }
            if isTransportError(rc) {
                releaseAgent()
                return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
            }
            if !advanceIdentity(agent) { break }
        }
        let count = agent.count
        releaseAgent()
        record("denied by the server for all \(count) agent key(s)", keyProblem: false)
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

/// A key attempt's key: the text as read and what the process made of it.
private struct PreparedKey {
    let original: [UInt8]
    let outcome: PrivateKeyDecryption.Outcome

    /// Why the attempt ends without asking libssh2 (which would only derive the key again to find the same).
    var finalFailure: String? {
        if case .failed(let failure) = outcome, failure.isFinal { return failure.reason }
        return nil
    }

    /// The public key as a `.pub` line, where the key file holds it.
    var publicKey: [UInt8]? {
        switch outcome {
        case .decrypted(_, let publicKey), .notEncrypted(let publicKey): return publicKey
        case .failed: return nil
        }
    }

    /// Calls `body` with the text to give libssh2 and whether it is already decrypted.
    func withText<Result>(_ body: (UnsafeRawBufferPointer, Bool) -> Result) -> Result {
        if case .decrypted(let plain, _) = outcome { return plain.withUnsafeBytes { body($0, true) } }
        return original.withUnsafeBytes { body($0, false) }
    }
}

extension PrivateKeyDecryption.Failure {
    /// Whether the failure settles the attempt (libssh2 would only derive the key again to find the same).
    var isFinal: Bool {
        switch self {
        case .wrongPassphrase, .passphraseNeeded: return true
        case .unsupported, .malformed: return false
        }
    }

    /// The failure as the attempt list tells it.
    var reason: String {
        switch self {
        case .wrongPassphrase: return "the key could not be decrypted: wrong passphrase"
        case .passphraseNeeded: return "the key is encrypted and no passphrase was given"
        case .unsupported(let why), .malformed(let why): return why
        }
    }
}

extension AuthAttempt {
    /// Whether the key is an RSA key (PEM header, or `ssh-rsa` inside an OpenSSH key).
    var looksLikeRSA: Bool {
        switch self {
        case .keyFile(let path, _, _), .certificate(let path, _, _): return KeyFileInspector.isRSA(path: path)
        case .keyData(let data, _): return KeyFileInspector.isRSA(bytes: data.bytes)
        default: return false
        }
    }
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
