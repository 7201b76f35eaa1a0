import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop
import SSHPrivateKeys

#if canImport(Glibc)
    import Glibc
#endif

/// libssh2's authentication calls for the shared ``AuthRun``, which decides what is tried and what each outcome
/// means; this maps libssh2's return codes to outcomes.
final class LibSSH2Authenticator: NativeAuthenticator, AuthCalls {
    private let user: String
    private let userLength: UInt32
    private var run: AuthRun
    /// The current key attempt's key as the process decrypted it (``LibSSH2KeyCache``), looked up once per attempt.
    private var currentKey: PreparedKey?
    /// The agent key being offered, by index, and how it is signed.
    private var agentIndex = 0
    private var signer: Signer?

    init(options: SSHConnectionOptions, attempts: [AuthAttempt], wake: @escaping @Sendable () -> Void) {
        self.user = options.user
        self.userLength = UInt32(options.user.utf8.count)
        self.run = AuthRun(options: options, attempts: attempts, wake: wake)
    }

    func step(_ connection: LibSSH2Connection) -> NativeStep { run.step(self, connection) }

    func endAttempt() {
        currentKey = nil
        agentIndex = 0
        signer = nil
    }

    func queryMethods(_ connection: LibSSH2Connection) -> MethodQuery {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if let list = libssh2_userauth_list(session, user, userLength) {
            return .methods(String(cString: list).split(separator: ",").map(String.init))
        }
        if libssh2_userauth_authenticated(session) != 0 { return .accepted }  // the server accepted "none"
        if clibssh2_last_errno(session) == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        return .failed(connection.nativeError(.authenticationFailed, "the server sent no authentication methods"))
    }

    func tryKey(_ attempt: AuthAttempt, _ connection: LibSSH2Connection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if case .certificate = attempt {
            return .denied(
                "not supported: libssh2 \(LibSSH2Library.version) cannot sign with OpenSSH certificates through "
                    + "this engine; use the libssh engine")
        }
        guard let bytes = attempt.keyBytes else { return .keyProblem("the key could not be read") }
        if currentKey == nil {
            // Decrypted once per process, before the connection started; handed to libssh2 as text.
            let prepared = LibSSH2KeyCache.shared.value(contents: bytes, passphrase: attempt.passphrase)
            currentKey = PreparedKey(original: bytes, outcome: prepared.outcome, signer: prepared.signer)
        }
        guard let key = currentKey else { return .keyProblem("the key could not be read") }
        if let reason = key.finalFailure { return .keyProblem(reason) }
        if let parsed = key.signer {
            // Signed in the process with the key parsed once, instead of libssh2 parsing the file again.
            let signer = self.signer ?? Signer(blob: parsed.publicKeyBlob) { parsed.sign($0) }
            self.signer = signer
            return outcome(sign(session, with: signer), connection: connection, rsa: false)
        }
        let rc = key.withText { text, decrypted in
            authenticate(
                session, key: text, publicKey: key.publicKey, passphrase: decrypted ? "" : attempt.passphrase ?? "")
        }
        return outcome(rc, connection: connection, rsa: KeyFileInspector.isRSA(bytes: bytes))
    }

    func tryAgent(_ agent: AgentSession, _ connection: LibSSH2Connection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        while agentIndex < agent.identities.count {
            let blob = agent.identities[agentIndex].blob
            let signer = self.signer ?? Signer(blob: blob) { agent.sign($0, with: blob) }
            self.signer = signer
            let rc = sign(session, with: signer)
            if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
            if rc == 0 { return .accepted }
            if isTransportError(rc) {
                return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
            }
            agentIndex += 1
            self.signer = nil
        }
        return .denied("denied by the server for all \(agent.identities.count) agent key(s)")
    }

    /// Offers `signer`'s public key; libssh2 asks it to sign through ``signWithSigner``.
    private func sign(_ session: OpaquePointer, with signer: Signer) -> Int32 {
        signer.blob.withUnsafeBufferPointer { blob in
            withExtendedLifetime(signer) {
                var abstract: UnsafeMutableRawPointer? = Unmanaged.passUnretained(signer).toOpaque()
                return libssh2_userauth_publickey(
                    session, user, blob.baseAddress, blob.count, signWithSigner, &abstract)
            }
        }
    }

    func tryPassword(_ password: String, _ connection: LibSSH2Connection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        let rc = clibssh2_userauth_password(session, user, userLength, password, UInt32(password.utf8.count))
        return outcome(rc, connection: connection, rsa: false)
    }

    func tryKeyboardInteractive(_ responder: SSHKeyboardInteractiveResponder, _ connection: LibSSH2Connection)
        -> AttemptOutcome
    {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        connection.keyboardInteractiveResponder = responder
        let rc = libssh2_userauth_keyboard_interactive_ex(session, user, userLength, keyboardInteractiveCallback)
        if rc != LIBSSH2_ERROR_EAGAIN { connection.keyboardInteractiveResponder = nil }
        return outcome(rc, connection: connection, rsa: false)
    }

    var gssapiUnavailable: String? {
        "not supported: libssh2 \(LibSSH2Library.version) has no Kerberos (GSSAPI) authentication; use the libssh engine"
    }

    func tryGSSAPI(_ options: SSHGSSAPIOptions, _ connection: LibSSH2Connection) -> AttemptOutcome {
        .denied(gssapiUnavailable ?? "")
    }

    /// Public key authentication with a private key given as text, and its public key as a `.pub` line if known
    /// (else libssh2 derives it from the private key, a second parse).
    private func authenticate(
        _ session: OpaquePointer, key: UnsafeRawBufferPointer, publicKey: [UInt8]?,
        passphrase: String
    ) -> Int32 {
        let chars = key.bindMemory(to: CChar.self)
        guard let publicKey else {
            return libssh2_userauth_publickey_frommemory(
                session, user, Int(userLength), nil, 0, chars.baseAddress,
                chars.count, passphrase)
        }
        return publicKey.withUnsafeBytes { line in
            let pub = line.bindMemory(to: CChar.self)
            return libssh2_userauth_publickey_frommemory(
                session, user, Int(userLength), pub.baseAddress, pub.count,
                chars.baseAddress, chars.count, passphrase)
        }
    }

    /// What a libssh2 return code means for the attempt.
    private func outcome(_ rc: Int32, connection: LibSSH2Connection, rsa: @autoclosure () -> Bool) -> AttemptOutcome {
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        if rc == 0 { return .accepted }
        if isTransportError(rc) {
            return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
        }
        let detail = connection.nativeError(.authenticationFailed, "").nativeMessage ?? ""
        let denied = rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
        switch rc {
        case LIBSSH2_ERROR_FILE, LIBSSH2_ERROR_KEYFILE_AUTH_FAILED:
            return .keyProblem(
                "the key could not be read or decrypted (wrong passphrase or unsupported format): \(detail)")
        case _ where denied && rsa():
            return .denied(Self.rsaAdvice)
        case _ where denied:
            return .denied("denied by the server\(detail.isEmpty ? "" : " (\(detail))")")
        default:
            return .denied("failed: \(detail) (libssh2 code \(rc))")
        }
    }

    /// Why an RSA key fails with this libssh2: it signs with ssh-rsa (SHA-1), which OpenSSH 8.8+ rejects.
    static let rsaAdvice =
        "denied: libssh2 \(LibSSH2Library.version) signs RSA keys with ssh-rsa (SHA-1), which "
        + "OpenSSH 8.8 and later reject; use an ed25519 or ECDSA key, or the libssh engine"
}

/// One key being offered through libssh2's signing callback: an agent's (connected before the connection started:
/// a round trip on its local socket) or a key the process parsed once (``Ed25519Signer``).
private final class Signer {
    /// The public key blob offered.
    let blob: [UInt8]
    /// The SSH signature of the data, or `nil`.
    let sign: (UnsafeRawBufferPointer) -> [UInt8]?
    init(blob: [UInt8], sign: @escaping (UnsafeRawBufferPointer) -> [UInt8]?) {
        self.blob = blob
        self.sign = sign
    }
}

/// libssh2's `LIBSSH2_USERAUTH_PUBLICKEY_SIGN_FUNC`: the signer's signature, in memory libssh2 frees (malloc,
/// libssh2's default allocator).
private let signWithSigner:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, UnsafeMutablePointer<Int>?,
        UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> Int32 = { _, signature, length, data, dataLength, abstract in
        guard let raw = abstract?.pointee, let signature, let length else { return -1 }
        let signer = Unmanaged<Signer>.fromOpaque(raw).takeUnretainedValue()
        guard let bytes = signer.sign(UnsafeRawBufferPointer(start: data, count: dataLength)),
            !bytes.isEmpty,
            let memory = malloc(bytes.count)
        else { return -1 }
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        signature.pointee = memory.assumingMemoryBound(to: UInt8.self)
        length.pointee = bytes.count
        return 0
    }

/// A key attempt's key: the text as read and what the process made of it.
private struct PreparedKey {
    let original: [UInt8]
    let outcome: PrivateKeyDecryption.Outcome
    /// The key parsed for signing in the process, when it is an Ed25519 key.
    let signer: Ed25519Signer?

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

/// Answers keyboard-interactive prompts through the connection's responder. libssh2 hands back the session's
/// abstract pointer, which is the ``LibSSH2Connection``; this runs on its loop thread, inside the auth call.
private let keyboardInteractiveCallback:
    @convention(c) (
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
        let responder =
            abstract?.pointee.map {
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
