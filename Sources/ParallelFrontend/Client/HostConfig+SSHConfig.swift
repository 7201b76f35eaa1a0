import Foundation
import SSHBackend
import SSHConfig

/// How one host is reached: the caller's settings over what `ssh_config` says over the defaults, as the
/// connection options and the environment its commands get.
struct ConnectionPlan: Sendable {
    /// Every setting, filled.
    let settings: HostConfig
    /// The options to connect with.
    var options: SSHConnectionOptions
    /// Variables `SendEnv` and `SetEnv` send with each command (the command's own environment wins).
    let environment: [String: String]
    /// Whether commands get a terminal when the caller does not say (`RequestTTY yes` or `force`).
    var requestTTY = false
}

extension HostConfig {
    /// What `resolved` says, as the fields of a configuration (`nil` where it says nothing).
    init(_ resolved: SSHResolvedConfig) {
        self.init()
        user = resolved.configuredUser
        port = resolved.configuredPort
        connectionAttempts = resolved.connectionAttempts
        timeout = resolved.connectTimeout.map { .seconds($0) }
        let alive = resolved.serverAliveInterval
        if resolved.setsServerAliveInterval || alive > 0 { keepalive = .seconds(alive) }
        keepaliveCountMax = resolved.serverAliveCountMax
        compression = resolved.compression
        gssapiAuth = resolved.gssapiAuthentication
        forwardAgent = resolved.forwardAgent.map(AgentForwarding.init(configValue:))
        let delegate = resolved.gssapiDelegateCredentials
        let server = resolved.gssapiServerIdentity
        let client = resolved.gssapiClientIdentity
        if delegate != nil || server != nil || client != nil {
            gssapi = SSHGSSAPIOptions(
                delegateCredentials: delegate ?? false, serverIdentity: server, clientIdentity: client)
        }
        ipv6Only = resolved.addressFamily.map { $0 == .inet6 }
        var policy = SSHHostKeyPolicy()
        switch resolved.strictHostKeyChecking {
        case .acceptNew: policy.mode = .acceptNew
        case .no: policy.mode = .off
        case .yes, .ask, nil: policy.mode = .strict  // ask, with nobody to ask, is yes
        }
        policy.userKnownHostsFiles = resolved.userKnownHostsFiles
        policy.globalKnownHostsFiles = resolved.globalKnownHostsFiles
        policy.hostKeyAlias = resolved.hostKeyAlias
        policy.hashKnownHosts = resolved.hashKnownHosts
        hostKeyPolicy = policy
    }

    /// The plan for `host` (this configuration holds the caller's settings): `sshConfig`'s values fill what the
    /// caller left `nil`, then the defaults. Jump hosts are added by the client (``SSHClient``), which resolves
    /// each hop's own configuration.
    func plan(host: String, sshConfig resolved: SSHResolvedConfig?) -> ConnectionPlan {
        let fromFile = resolved.map(HostConfig.init) ?? HostConfig()
        let settings = merged(over: fromFile).merged(over: .defaults)
        guard let resolved else {
            return ConnectionPlan(settings: settings, options: settings.connectionOptions(host: host), environment: [:])
        }
        var options = settings.connectionOptions(host: resolved.hostName)
        options.proxyCommand = resolved.proxyCommand
        options.algorithms.ciphers = resolved.algorithms("ciphers")
        options.algorithms.keyExchange = resolved.algorithms("kexalgorithms")
        options.algorithms.macs = resolved.algorithms("macs")
        if let hostKeys = resolved.algorithms("hostkeyalgorithms") {
            options.algorithms.hostKeys = hostKeys
            // OpenSSH puts known key types first only for its own list or one edited with + or -.
            options.algorithms.reorderHostKeys = resolved.editsHostKeyAlgorithms
        }
        options.authMethods = authMethods(settings: settings, resolved: resolved)
        var environment: [String: String] = [:]
        let local = ProcessInfo.processInfo.environment
        for pattern in resolved.sendEnv {
            for (name, value) in local where SSHPattern.match(name, pattern) { environment[name] = value }
        }
        for assignment in resolved.setEnv {
            let parts = assignment.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 { environment[String(parts[0])] = String(parts[1]) }
        }
        let tty = resolved.requestsTTY
        return ConnectionPlan(settings: settings, options: options, environment: environment, requestTTY: tty)
    }

    /// The authentication methods with `ssh_config`'s say: its identity files (when the caller gave no key),
    /// `IdentityAgent`, `IdentitiesOnly`, and the Pubkey/Password/KbdInteractive switches, in
    /// `PreferredAuthentications` order when given; Kerberos (`GSSAPIAuthentication`) first, as ssh tries it.
    private func authMethods(settings: HostConfig, resolved: SSHResolvedConfig) -> [SSHAuthMethod] {
        var keys: [SSHAuthMethod] = []
        var agent: [SSHAuthMethod] = []
        var passwords: [SSHAuthMethod] = []
        let configuredFiles = resolved.setsIdentityFiles
        if let privateKey = settings.privateKey { keys.append(privateKey.authMethod) }
        if privateKey == nil && configuredFiles { keys.append(.identityFiles(resolved.identityFiles)) }
        let agentSocket = resolved.identityAgent
        if settings.allowAgentOrDefault, agentSocket != "none", !resolved.identitiesOnly {
            var socket = agentSocket
            if socket == "SSH_AUTH_SOCK" { socket = nil }
            if let name = socket, name.hasPrefix("$") {
                socket = ProcessInfo.processInfo.environment[String(name.dropFirst())]
            }
            agent.append(.agent(socketPath: socket))
        }
        if settings.identityAuthOrDefault, settings.privateKey == nil, !configuredFiles {
            keys.append(.defaultIdentities())
        }
        if let password = settings.password {
            if settings.keyboardInteractiveOrDefault {
                if resolved.kbdInteractiveAuthentication {
                    passwords.append(.keyboardInteractive(password: password))
                }
            } else if resolved.passwordAuthentication {
                passwords.append(.password(password))
            }
        }
        // As ssh: the CertificateFile certificates first, each with the key it certifies.
        let certificates: [SSHAuthMethod] =
            resolved.certificateFiles.isEmpty ? [] : [.certificateFiles(resolved.certificateFiles)]
        let publicKey = resolved.pubkeyAuthentication ? certificates + keys.prefix(1) + agent + keys.dropFirst() : []
        let kerberos: [SSHAuthMethod] = settings.gssapiAuthOrDefault ? [.gssapi(settings.gssapiOrDefault)] : []
        guard let preferred = resolved.preferredAuthentications else { return kerberos + publicKey + passwords }
        var ordered: [SSHAuthMethod] = []
        for method in preferred {
            switch method {
            case "gssapi-with-mic": ordered += kerberos
            case "publickey": ordered += publicKey
            case "password": ordered += passwords.filter { if case .password = $0 { true } else { false } }
            case "keyboard-interactive":
                ordered += passwords.filter { if case .keyboardInteractive = $0 { true } else { false } }
            default: break
            }
        }
        return ordered
    }

    /// The hops of a `ProxyJump` or `-J` value (`[user@]host[:port]`, comma-separated; `none` for none), in order.
    /// - Throws: `invalidArgument` naming a hop that is not `[user@]host[:port]`, or whose host or user name has a
    ///   character OpenSSH refuses.
    static func jumpSpecs(_ value: String) throws(SSHError) -> [UserHostPort] {
        guard value.lowercased() != "none" else { return [] }
        var hops: [UserHostPort] = []
        for hop in value.split(separator: ",") {
            guard let parsed = UserHostPort(hop) else {
                throw SSHError(.invalidArgument, message: "jump host '\(hop)' is not [user@]host[:port]")
            }
            try parsed.checkNames(role: "jump host")
            hops.append(parsed)
        }
        return hops
    }
}
