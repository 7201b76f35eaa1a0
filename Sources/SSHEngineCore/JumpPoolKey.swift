import SSHBackend
import SSHKnownHosts
import Synchronization

/// The key under which a jump connection is shared in the ``JumpPool``: everything that decides whether a
/// connection made for one caller may carry another's tunnels. Two callers share a hop connection only when they
/// would have made the same connection: the same engine, user, host, port and hops before it, the same
/// ProxyCommand and algorithms, the same host-key policy (mode, prompter, verifier, files, alias) and the same
/// credentials. Secrets enter the key only as a SHA-256 digest; a verifier or responder whose sameness cannot be
/// told gets a key of its own (that connection is not shared).
package enum JumpPoolKey {
    private static let unique = Atomic<Int>(0)

    /// The key for a connection to `hop`, reached through `before` (outermost first), with the engine `engine`.
    package static func make(engine: String, hop: SSHConnectionOptions, before: [SSHConnectionOptions]) -> String {
        var secrets: [UInt8] = []
        var parts = [engine]
        for options in before + [hop] {
            parts.append(describe(options, secrets: &secrets))
        }
        let digest = SHA256.hash(secrets).prefix(16).map { String($0, radix: 16) }.joined()
        return parts.joined(separator: " | ") + " | credentials " + digest
    }

    /// A key for `methods` alone (paths, agent sockets, a digest of their secrets): the same methods give the same
    /// key; a responder whose sameness cannot be told makes a key no other call gives (`unique` in it).
    package static func credentials(_ methods: [SSHAuthMethod]) -> String {
        var secrets: [UInt8] = []
        let text = methods.map { describe($0, secrets: &secrets) }.joined(separator: " ")
        return text + " | " + SHA256.hash(secrets).prefix(16).map { String($0, radix: 16) }.joined()
    }

    private static func describe(_ options: SSHConnectionOptions, secrets: inout [UInt8]) -> String {
        var text = "\(options.user)@\(options.host):\(options.port)"
        text +=
            " proxy=\(options.proxyCommand ?? "-") family=\(options.addressFamily) compression=\(options.compression)"
        text += " algorithms=\(options.algorithms)"
        text += " hostkeys=" + describe(options.hostKeyPolicy)
        for method in options.authMethods {
            text += " auth=" + describe(method, secrets: &secrets)
        }
        return text
    }

    private static func describe(_ policy: SSHHostKeyPolicy) -> String {
        var text: String
        switch policy.mode {
        case .strict: text = "strict"
        case .acceptNew: text = "accept-new"
        case .ask(let prompter): text = "ask#\(ObjectIdentifier(prompter.identity).hashValue)"
        case .off: text = "off"
        }
        text += " user=\(policy.userKnownHostsFiles) global=\(policy.globalKnownHostsFiles)"
        text += " alias=\(policy.hostKeyAlias ?? "-") hashed=\(policy.hashKnownHosts) records=\(policy.recordsNewKeys)"
        if let verifier = policy.verifier {
            if type(of: verifier) is AnyClass {
                text += " verifier#\(ObjectIdentifier(verifier as AnyObject).hashValue)"
            } else {
                text += " verifier(unique \(unique.add(1, ordering: .relaxed).newValue))"
            }
        }
        return text
    }

    private static func describe(_ method: SSHAuthMethod, secrets: inout [UInt8]) -> String {
        func secret(_ value: String?) {
            secrets += Array((value ?? "").utf8) + [0]
        }
        switch method {
        case .privateKeyFile(let path, let passphrase):
            secret(passphrase)
            return "key(\(path))"
        case .privateKey(let data, let passphrase):
            secrets += data.bytes + [0]
            secret(passphrase)
            return "key(memory)"
        case .certificate(let keyPath, let certificatePath, let passphrase):
            secret(passphrase)
            return "certificate(\(keyPath), \(certificatePath))"
        case .agent(let socket):
            return "agent(\(socket ?? "$SSH_AUTH_SOCK"))"
        case .defaultIdentities(let directory, let passphrase):
            secret(passphrase)
            return "defaults(\(directory))"
        case .identityFiles(let files, let passphrase):
            secret(passphrase)
            return "files(\(files))"
        case .certificateFiles(let files):
            return "certificates(\(files))"
        case .password(let password):
            secret(password)
            return "password"
        case .keyboardInteractive(let responder):
            guard let answer = responder.fixedAnswer else {
                return "keyboard-interactive(unique \(unique.add(1, ordering: .relaxed).newValue))"
            }
            secret(answer)
            return "keyboard-interactive"
        case .gssapi(let options):
            return "gssapi(\(options))"
        }
    }
}
