import CLibSSH
import SSHBackend
import SSHEngineCore

#if canImport(Glibc)
import Glibc
#endif

/// Tries the configured authentication methods in order, non-blocking, recording each attempt. Mirrors
/// ``LibSSH2Authenticator``; libssh keeps each call's state in the session, so a call that returned
/// `SSH_AUTH_AGAIN` is repeated with the same arguments (the same key object) until it settles.
final class LibSSHAuthenticator: NativeAuthenticator {
    private var progress: AuthProgress
    private var current: AuthAttempt?
    /// The private key of the current attempt, imported once and kept while libssh may call back for it.
    private var key: OpaquePointer?
    /// Whether the current attempt's first call was made (its key imported, its agent chosen).
    private var started = false
    private var askedNone = false

    init(options: SSHConnectionOptions) {
        self.progress = AuthProgress(options: options)
    }

    deinit { releaseKey() }

    func step(_ connection: LibSSHConnection) -> NativeStep {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if !askedNone {
            // The "none" request tells which methods the server offers (and rarely, lets us in).
            let rc = ssh_userauth_none(session, nil)
            if rc == authAgain { return .wouldBlock }
            askedNone = true
            if rc == SSH_AUTH_SUCCESS.rawValue { return .done }
            if rc == SSH_AUTH_ERROR.rawValue && connection.transportLost {
                return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
            }
            progress.serverMethods = Self.methodNames(ssh_userauth_list(session, nil))
        }
        while true {
            if current == nil { current = progress.next() }
            guard let attempt = current else { return .failed(progress.exhaustedError) }
            guard let outcome = run(attempt, session: session, connection: connection) else { continue }
            switch outcome {
            case .wouldBlock: return .wouldBlock
            case .done:
                releaseKey()
                return .done
            case .failed(let error): return .failed(error)
            }
        }
    }

    /// The protocol names of the methods in libssh's bit mask.
    private static func methodNames(_ mask: Int32) -> [String] {
        let bits = UInt32(bitPattern: mask)
        return [(SSH_AUTH_METHOD_PUBLICKEY, "publickey"), (SSH_AUTH_METHOD_PASSWORD, "password"),
                (SSH_AUTH_METHOD_INTERACTIVE, "keyboard-interactive"), (SSH_AUTH_METHOD_HOSTBASED, "hostbased"),
                (SSH_AUTH_METHOD_GSSAPI_MIC, "gssapi-with-mic")]
            .filter { bits & $0.0 != 0 }.map(\.1)
    }

    private func record(_ outcome: String, keyProblem: Bool) {
        progress.record(outcome, keyProblem: keyProblem)
        current = nil
        started = false
        releaseKey()
    }

    /// Runs one attempt: nil once it is recorded as failed (move on), `.failed` only for errors that end
    /// authentication (the transport broke).
    private func run(_ attempt: AuthAttempt, session: OpaquePointer, connection: LibSSHConnection) -> NativeStep? {
        let firstCall = !started
        started = true
        let rc: Int32
        switch attempt {
        case .keyFile, .keyData, .certificate:
            if firstCall, let problem = importKey(attempt) {
                if let exhausted = problem.exhausted { return .failed(connection.error(.resourceExhausted, exhausted)) }
                record(problem.reason, keyProblem: attempt.isExplicitKey)
                return nil
            }
            rc = ssh_userauth_publickey(session, nil, key)
        case .agent(let socketPath):
            if firstCall, let problem = prepareAgent(session, socketPath: socketPath) {
                record(problem, keyProblem: false)
                return nil
            }
            rc = ssh_userauth_agent(session, nil)
        case .password(let password):
            rc = ssh_userauth_password(session, nil, password)
        case .keyboardInteractive(let responder):
            rc = keyboardInteractive(session, responder)
        }
        return conclude(attempt, rc: rc, connection: connection)
    }

    private func conclude(_ attempt: AuthAttempt, rc: Int32, connection: LibSSHConnection) -> NativeStep? {
        switch rc {
        case authAgain:
            return .wouldBlock
        case SSH_AUTH_SUCCESS.rawValue:
            return .done
        case SSH_AUTH_PARTIAL.rawValue:
            record("accepted, but the server requires a further method", keyProblem: false)
            if let session = connection.session { progress.serverMethods = Self.methodNames(ssh_userauth_list(session, nil)) }
        case SSH_AUTH_DENIED.rawValue:
            if case .agent = attempt {
                record("denied by the server for every agent key", keyProblem: false)
            } else {
                record("denied by the server", keyProblem: false)
            }
        default:
            if connection.transportLost {
                return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
            }
            let detail = connection.nativeError(.authenticationFailed, "").nativeMessage ?? ""
            record("failed: \(detail) (libssh code \(rc))", keyProblem: false)
        }
        return nil
    }

    // MARK: Keys

    /// Why a key could not be used: for the attempt list, or (`exhausted`) a local shortage that ends authentication.
    private struct KeyProblem {
        var reason: String
        var exhausted: String?
    }

    /// Imports the attempt's key (and certificate) into ``key``; returns why not.
    private func importKey(_ attempt: AuthAttempt) -> KeyProblem? {
        var imported: OpaquePointer?
        var rc: Int32 = SSH_ERROR
        // Parsed and decrypted once per process (LibSSHKeyCache); each session gets its own copy.
        let contents: [UInt8]?
        let passphrase: String?
        switch attempt {
        case .keyFile(let path, let given, _), .certificate(let path, _, let given):
            contents = PrivateKeyFile.contents(ofFile: path)
            passphrase = given
            if contents == nil { rc = SSH_EOF }  // errno says why, as libssh's own file import would
        case .keyData(let data, let given):
            contents = data.bytes
            passphrase = given
        default:
            return nil
        }
        if let contents {
            switch LibSSHKeyCache.key(contents: contents, passphrase: passphrase) {
            case .success(let key):
                imported = key
                rc = SSH_OK
            case .failure(let failure):
                rc = failure.code
            }
        }
        guard rc == SSH_OK, let imported else {
            if rc == SSH_EOF, errno == EMFILE || errno == ENFILE {
                // libssh could not even open the file: the process ran out of file descriptors.
                let reason = "cannot open the key file: \(String(cString: strerror(errno)))"
                return KeyProblem(reason: reason, exhausted: reason)
            }
            if rc == SSH_EOF {
                return KeyProblem(reason: "cannot open the key file: \(String(cString: strerror(errno)))")
            }
            return KeyProblem(reason: "the key could not be read or decrypted (wrong passphrase or unsupported format)")
        }
        key = imported
        if case .certificate(_, let certificatePath, _) = attempt {
            var certificate: OpaquePointer?
            defer { ssh_key_free(certificate) }
            guard ssh_pki_import_cert_file(certificatePath, &certificate) == SSH_OK,
                  ssh_pki_copy_cert_to_privkey(certificate, imported) == SSH_OK
            else {
                return KeyProblem(reason: "the certificate \(certificatePath) could not be read or does not match the key")
            }
        }
        return nil
    }

    private func releaseKey() {
        if let key { ssh_key_free(key) }
        key = nil
    }

    // MARK: Agent

    /// Points libssh at the agent; returns why the attempt is skipped, if it is.
    private func prepareAgent(_ session: OpaquePointer, socketPath: String?) -> String? {
        let path = socketPath ?? getenv("SSH_AUTH_SOCK").map { String(cString: $0) }
        guard let path, !path.isEmpty else { return "skipped: SSH_AUTH_SOCK is not set" }
        guard access(path, R_OK | W_OK) == 0 else { return "cannot connect to the agent at \(path)" }
        setOption(session, SSH_OPTIONS_IDENTITY_AGENT, path)
        return nil
    }

    // MARK: Keyboard-interactive

    /// One round of keyboard-interactive: sends the request (or answers), and answers the prompts libssh hands
    /// back, until the server accepts or denies.
    private func keyboardInteractive(_ session: OpaquePointer, _ responder: SSHKeyboardInteractiveResponder) -> Int32 {
        while true {
            let rc = ssh_userauth_kbdint(session, nil, nil)
            guard rc == SSH_AUTH_INFO.rawValue else { return rc }
            let name = ssh_userauth_kbdint_getname(session).map { String(cString: $0) } ?? ""
            let instruction = ssh_userauth_kbdint_getinstruction(session).map { String(cString: $0) } ?? ""
            let count = ssh_userauth_kbdint_getnprompts(session)
            for index in 0..<UInt32(max(0, count)) {
                var echo: CChar = 0
                let prompt = ssh_userauth_kbdint_getprompt(session, index, &echo).map { String(cString: $0) } ?? ""
                let answer = responder.answer(SSHKeyboardInteractivePrompt(
                    name: name, instruction: instruction, prompt: prompt, echo: echo != 0))
                _ = ssh_userauth_kbdint_setanswer(session, index, answer)
            }
        }
    }
}
