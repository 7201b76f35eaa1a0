import CLibSSH
import SSHBackend
import SSHEngineCore
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// libssh's authentication calls for the shared ``AuthRun``, which decides what is tried and what each outcome
/// means; this maps libssh's return codes to outcomes. libssh keeps each call's state in the session, so a call that
/// returned `SSH_AUTH_AGAIN` is repeated with the same arguments (the same key object) until it settles.
final class LibSSHAuthenticator: NativeAuthenticator, AuthCalls {
    private var run: AuthRun
    /// The private key of the current attempt, copied from the key cache once and kept while libssh may call back.
    private var key: OpaquePointer?
    /// Whether the current agent attempt handed libssh its socket.
    private var agentSocketGiven = false
    /// Whether the current GSSAPI attempt set libssh's GSSAPI options.
    private var gssapiOptionsSet = false

    init(options: SSHConnectionOptions, attempts: [AuthAttempt], wake: @escaping @Sendable () -> Void) {
        run = AuthRun(options: options, attempts: attempts, wake: wake)
    }

    deinit { releaseKey() }

    func step(_ connection: LibSSHConnection) -> NativeStep { run.step(self, connection) }

    func endAttempt() {
        releaseKey()
        agentSocketGiven = false
        gssapiOptionsSet = false
    }

    func queryMethods(_ connection: LibSSHConnection) -> MethodQuery {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        // The "none" request tells which methods the server offers (and rarely, lets us in).
        let rc = ssh_userauth_none(session, nil)
        if rc == authAgain { return .wouldBlock }
        if rc == SSH_AUTH_SUCCESS.rawValue { return .accepted }
        if rc == SSH_AUTH_ERROR.rawValue && connection.transportLost {
            return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
        }
        return .methods(Self.methodNames(ssh_userauth_list(session, nil)))
    }

    func tryKey(_ attempt: AuthAttempt, _ connection: LibSSHConnection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if key == nil, let problem = importKey(attempt) { return .keyProblem(problem) }
        return outcome(ssh_userauth_publickey(session, nil, key), connection: connection, agent: false)
    }

    func tryAgent(_ agent: AgentSession, _ connection: LibSSHConnection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if !agentSocketGiven {
            // The agent was connected before the connection started; libssh talks to it on a copy of the socket.
            let copy = fcntl(agent.fd, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0, ssh_set_agent_socket(session, copy) == SSH_OK else {
                if copy >= 0 { close(copy) }
                return .denied("cannot hand the agent at \(agent.path) to libssh")
            }
            agentSocketGiven = true
        }
        // libssh lists the keys again and asks for each signature over the socket: round trips to the local agent.
        let rc = LoopWatchdog.knownBlockingCall("agent signature") { ssh_userauth_agent(session, nil) }
        return outcome(rc, connection: connection, agent: true)
    }

    func tryPassword(_ password: String, _ connection: LibSSHConnection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        return outcome(ssh_userauth_password(session, nil, password), connection: connection, agent: false)
    }

    func tryKeyboardInteractive(_ responder: SSHKeyboardInteractiveResponder, _ connection: LibSSHConnection)
        -> AttemptOutcome
    {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        return outcome(keyboardInteractive(session, responder), connection: connection, agent: false)
    }

    var gssapiUnavailable: String? { nil }

    func tryGSSAPI(_ options: SSHGSSAPIOptions, _ connection: LibSSHConnection) -> AttemptOutcome {
        guard let session = connection.session else {
            return .failed(connection.error(.sessionClosed, "the session is closed"))
        }
        if !gssapiOptionsSet {
            var delegate: Int32 = options.delegateCredentials ? 1 : 0
            ssh_options_set(session, SSH_OPTIONS_GSSAPI_DELEGATE_CREDENTIALS, &delegate)
            if let server = options.serverIdentity {
                ssh_options_set(session, SSH_OPTIONS_GSSAPI_SERVER_IDENTITY, server)
            }
            if let client = options.clientIdentity {
                ssh_options_set(session, SSH_OPTIONS_GSSAPI_CLIENT_IDENTITY, client)
            }
            gssapiOptionsSet = true
        }
        // The service ticket was fetched off the loop (AuthRun); libssh's GSSAPI calls read it from the cache. With
        // delegation, krb5 asks the KDC for the forwarded ticket here (it keeps none to reuse): a known wait.
        let rc = LoopWatchdog.knownBlockingCall("GSSAPI (credential cache; the KDC when delegating)") {
            ssh_userauth_gssapi(session)
        }
        if rc == SSH_AUTH_DENIED.rawValue, let detail = connection.nativeError(.authenticationFailed, "").nativeMessage,
            !detail.isEmpty
        {
            // libssh also answers "denied" when its own GSSAPI calls fail before asking the server; it says why.
            return .denied("denied: \(detail)")
        }
        return outcome(rc, connection: connection, agent: false)
    }

    /// The protocol names of the methods in libssh's bit mask.
    private static func methodNames(_ mask: Int32) -> [String] {
        let bits = UInt32(bitPattern: mask)
        return [
            (SSH_AUTH_METHOD_PUBLICKEY, "publickey"), (SSH_AUTH_METHOD_PASSWORD, "password"),
            (SSH_AUTH_METHOD_INTERACTIVE, "keyboard-interactive"), (SSH_AUTH_METHOD_HOSTBASED, "hostbased"),
            (SSH_AUTH_METHOD_GSSAPI_MIC, "gssapi-with-mic"),
        ]
        .filter { bits & $0.0 != 0 }.map(\.1)
    }

    /// What a libssh return code means for the attempt.
    private func outcome(_ rc: Int32, connection: LibSSHConnection, agent: Bool) -> AttemptOutcome {
        switch rc {
        case authAgain:
            return .wouldBlock
        case SSH_AUTH_SUCCESS.rawValue:
            return .accepted
        case SSH_AUTH_PARTIAL.rawValue:
            let offered = connection.session.map { Self.methodNames(ssh_userauth_list($0, nil)) } ?? []
            return .partial(offered)
        case SSH_AUTH_DENIED.rawValue:
            return .denied(agent ? "denied by the server for every agent key" : "denied by the server")
        default:
            if connection.transportLost {
                return .failed(connection.nativeError(.connectionLost, "the connection broke during authentication"))
            }
            let detail = connection.nativeError(.authenticationFailed, "").nativeMessage ?? ""
            return .denied("failed: \(detail) (libssh code \(rc))")
        }
    }

    // MARK: Keys

    /// Copies the attempt's key from the key cache (parsed and decrypted before the connection started) into
    /// ``key``, with its certificate; returns why not.
    private func importKey(_ attempt: AuthAttempt) -> String? {
        guard let bytes = attempt.keyBytes else { return "the key could not be read" }
        switch LibSSHKeyCache.key(contents: bytes, passphrase: attempt.passphrase) {
        case .success(let imported):
            key = imported
        case .failure:
            return "the key could not be read or decrypted (wrong passphrase or unsupported format)"
        }
        if case .certificate(_, let certificatePath, _, _, let certificate) = attempt {
            guard let text = certificate.bytes, Self.attachCertificate(text, to: key) else {
                return "the certificate \(certificatePath) could not be read or does not match the key"
            }
        }
        return nil
    }

    /// Imports an OpenSSH certificate line (`type base64 [comment]`) and attaches it to `key`.
    private static func attachCertificate(_ line: [UInt8], to key: OpaquePointer?) -> Bool {
        let fields = String(decoding: line, as: UTF8.self).split(whereSeparator: {
            $0 == " " || $0 == "\t" || $0 == "\n"
        })
        guard fields.count >= 2 else { return false }
        var certificate: OpaquePointer?
        defer { ssh_key_free(certificate) }
        let type = ssh_key_type_from_name(String(fields[0]))
        return ssh_pki_import_cert_base64(String(fields[1]), type, &certificate) == SSH_OK
            && ssh_pki_copy_cert_to_privkey(certificate, key) == SSH_OK
    }

    private func releaseKey() {
        if let key { ssh_key_free(key) }
        key = nil
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
                let answer = responder.answer(
                    SSHKeyboardInteractivePrompt(
                        name: name, instruction: instruction, prompt: prompt, echo: echo != 0))
                _ = ssh_userauth_kbdint_setanswer(session, index, answer)
            }
        }
    }
}
