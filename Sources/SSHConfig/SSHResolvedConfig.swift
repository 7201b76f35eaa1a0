import SSHBackend

/// What `ssh_config` says for one host: every keyword obtained (first value wins; IdentityFile,
/// CertificateFile and SendEnv accumulate), with typed accessors for the keywords this package acts on and the
/// `ssh -G` form of them.
public struct SSHResolvedConfig: Sendable {
    /// The host as given (before `HostName`).
    public let originalHost: String
    /// Each keyword obtained (lowercase) and its arguments, tokens not yet expanded.
    public let values: [String: [String]]
    /// Where each keyword's value came from (`file:line`).
    public let origins: [String: String]
    /// `HostName` with `%h` expanded, lowercased (the host itself when not set).
    public let hostName: String
    /// The expanded paths and values (tokens, `${VAR}`, `~`) of IdentityFile, CertificateFile, IdentityAgent and
    /// UserKnownHostsFile.
    public let identityFiles: [String]
    /// See ``identityFiles``.
    public let certificateFiles: [String]
    /// See ``identityFiles``; `nil` when not set.
    public let identityAgent: String?
    /// See ``identityFiles``.
    public let userKnownHostsFiles: [String]
    /// `ProxyCommand` with its tokens (`%h %n %p %r %k %%`) expanded; `nil` when not set or `none`.
    public let proxyCommand: String?
    let localUser: String

    /// The first argument of `keyword`.
    public func value(_ keyword: String) -> String? { values[keyword.lowercased()]?.first }

    /// The login user: `User`, else the local user.
    public var user: String { value("user") ?? localUser }
    /// `Port`, else 22.
    public var port: Int { value("port").flatMap(Int.init) ?? 22 }
    /// `GlobalKnownHostsFile` (verbatim, as OpenSSH uses it).
    public var globalKnownHostsFiles: [String] {
        values["globalknownhostsfile"] ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
    }

    /// A yes/no keyword, `nil` when not set.
    public func flag(_ keyword: String) -> Bool? {
        switch value(keyword)?.lowercased() {
        case "yes", "true": return true
        case "no", "false": return false
        default: return nil
        }
    }

    /// `ServerAliveInterval` in seconds: 0 (off) by default, 300 under `BatchMode yes`, as OpenSSH sets it.
    public var serverAliveInterval: Int {
        seconds("serveraliveinterval") ?? (flag("batchmode") == true ? 300 : 0)
    }

    /// A number of seconds (`ConnectTimeout`, `ServerAliveInterval`), `nil` when not set or `none`.
    public func seconds(_ keyword: String) -> Int? { value(keyword).flatMap(Int.init) }

    /// An algorithm list (`Ciphers`, `KexAlgorithms`, `MACs`, `HostKeyAlgorithms`) after OpenSSH's `+`/`-`/`^`
    /// editing of its default; `nil` when the files do not set it.
    public func algorithms(_ keyword: String) -> [String]? {
        let keyword = keyword.lowercased()
        guard let spec = value(keyword), let defaults = AlgorithmLists.defaults[keyword] else { return nil }
        return AlgorithmLists.apply(spec, to: defaults)
    }

    /// The lines `ssh -G` prints for the keywords this package acts on, in its spelling.
    public var sshG: [String] {
        var lines: [String] = []
        func line(_ keyword: String, _ value: String) { lines.append("\(keyword) \(value)") }
        func yesNo(_ keyword: String, _ fallback: Bool) {
            line(keyword, flag(keyword) ?? fallback ? "yes" : "no")
        }
        line("user", user)
        line("hostname", hostName)
        line("port", String(port))
        line("addressfamily", value("addressfamily") ?? "any")
        yesNo("batchmode", false)
        yesNo("compression", false)
        yesNo("gssapiauthentication", false)
        yesNo("gssapidelegatecredentials", false)
        if let identity = gssapiClientIdentity { line("gssapiclientidentity", identity) }
        if let identity = gssapiServerIdentity { line("gssapiserveridentity", identity) }
        switch forwardAgent.map({ $0.lowercased() }) {
        case "yes", "true": line("forwardagent", "yes")
        case "no", "false", nil: line("forwardagent", "no")
        default: line("forwardagent", forwardAgent ?? "no")
        }
        yesNo("hashknownhosts", false)
        yesNo("identitiesonly", false)
        yesNo("kbdinteractiveauthentication", true)
        yesNo("passwordauthentication", true)
        line("pubkeyauthentication", (flag("pubkeyauthentication") ?? true) ? "true" : "false")
        switch value("requesttty")?.lowercased() {
        case "yes": line("requesttty", "true")
        case "no": line("requesttty", "false")
        case let other?: line("requesttty", other)
        case nil: line("requesttty", "auto")
        }
        switch value("stricthostkeychecking")?.lowercased() {
        case "yes", "true": line("stricthostkeychecking", "true")
        case "no", "off", "false": line("stricthostkeychecking", "false")
        case let other?: line("stricthostkeychecking", other)
        case nil: line("stricthostkeychecking", "ask")
        }
        line("connectionattempts", value("connectionattempts") ?? "1")
        line("serveralivecountmax", value("serveralivecountmax") ?? "3")
        line("serveraliveinterval", String(serverAliveInterval))
        if let alias = value("hostkeyalias") { line("hostkeyalias", alias) }
        if let agent = identityAgent { line("identityagent", agent) }
        for file in values["identityfile"] ?? SSHResolvedConfig.defaultIdentityFiles { line("identityfile", file) }
        for file in values["certificatefile"] ?? [] { line("certificatefile", file) }
        line("globalknownhostsfile", globalKnownHostsFiles.joined(separator: " "))
        line("userknownhostsfile", userKnownHostsFiles.joined(separator: " "))
        for pattern in values["sendenv"] ?? [] { line("sendenv", pattern) }
        for assignment in values["setenv"] ?? [] { line("setenv", assignment) }
        if let methods = value("preferredauthentications") { line("preferredauthentications", methods) }
        line("connecttimeout", value("connecttimeout") ?? "none")
        for keyword in ["ciphers", "kexalgorithms", "macs", "hostkeyalgorithms"] {
            line(keyword, (algorithms(keyword) ?? AlgorithmLists.defaults[keyword] ?? []).joined(separator: ","))
        }
        if let jump = value("proxyjump"), jump.lowercased() != "none" { line("proxyjump", jump) }
        if let command = value("proxycommand"), command.lowercased() != "none" { line("proxycommand", command) }
        return lines
    }

    /// OpenSSH's identity files when none is configured.
    static let defaultIdentityFiles = [
        "~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519",
        "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa",
    ]
}
