import Foundation
import SSHBackend

/// The state of one evaluation: what has been obtained so far (first wins), and what `Match` needs.
struct Evaluation {
    let originalHost: String
    let local: LocalIdentity
    var values: [String: [String]] = [:]
    var origins: [String: String] = [:]
    var ignoreUnknown: String?
    var wantsFinalPass = false
    var finalPass = false

    init(originalHost: String, local: LocalIdentity) {
        self.originalHost = originalHost
        self.local = local
    }

    /// `HostName` so far with `%h` expanded, else the host as given.
    var hostForMatch: String {
        guard let name = values["hostname"]?.first else { return originalHost }
        return name.replacingOccurrences(of: "%h", with: originalHost)
    }

    /// `User` so far, else the local user.
    var userForMatch: String { values["user"]?.first ?? local.user }

    /// `Host` patterns against the host as typed (case-sensitive), or in the final pass against the resolved
    /// `HostName`, as OpenSSH re-reads its files for the name it will connect to: any positive match activates, a
    /// negated match vetoes.
    func matchesHost(_ patterns: [String]) -> Bool {
        let subject = finalPass ? resolvedHostName : originalHost
        var matched = false
        for pattern in patterns {
            let negated = pattern.hasPrefix("!")
            if SSHPattern.match(subject, negated ? String(pattern.dropFirst()) : pattern) {
                if negated { return false }
                matched = true
            }
        }
        return matched
    }

    /// Sets a keyword unless already set.
    mutating func record(_ keyword: String, _ arguments: [String], origin: String) {
        guard values[keyword] == nil else { return }
        values[keyword] = arguments
        origins[keyword] = origin
    }

    /// Applies an active line.
    mutating func apply(_ line: ConfigLine, origin: String) {
        switch line.keyword {
        case "identityfile", "certificatefile", "localforward", "remoteforward", "dynamicforward":
            // A file already listed is not added again (the final pass reads the same lines once more).
            let value = line.arguments.joined(separator: " ")
            if values[line.keyword]?.contains(value) != true { values[line.keyword, default: []].append(value) }
        case "sendenv":
            for pattern in line.arguments {
                if pattern.hasPrefix("-") {
                    let removal = String(pattern.dropFirst())
                    values["sendenv"] = values["sendenv"]?.filter { !SSHPattern.match($0, removal) }
                } else {
                    values["sendenv", default: []].append(pattern)
                }
            }
        case "setenv":
            guard values["setenv"] == nil else { return }
            var seen = Set<String>()
            values["setenv"] = line.arguments.filter { seen.insert(String($0.prefix { $0 != "=" })).inserted }
        case "proxyjump", "proxycommand":
            // One slot: whichever comes first wins.
            guard values["proxyjump"] == nil && values["proxycommand"] == nil else { return }
            record(line.keyword, line.keyword == "proxycommand" ? [line.rest] : line.arguments, origin: origin)
        case "remotecommand", "localcommand", "knownhostscommand":
            record(line.keyword, [line.rest], origin: origin)
        default:
            record(line.keyword, line.arguments, origin: origin)
        }
    }

    /// Checks the values of the keywords this package acts on, on every line (active or not), as OpenSSH does.
    static func validate(_ line: ConfigLine, at location: String) throws(SSHError) {
        func bad(_ message: String) -> SSHError { SSHError(.invalidArgument, message: "\(location): \(message)") }
        let first = line.arguments.first ?? ""
        switch line.keyword {
        case "port":
            guard let port = Int(first), (1...65535).contains(port) else { throw bad("Badly formatted port number.") }
        case "batchmode", "compression", "hashknownhosts", "identitiesonly", "kbdinteractiveauthentication",
            "passwordauthentication", "checkhostip":
            guard ["yes", "no", "true", "false"].contains(first.lowercased()) else { throw bad("Bad yes/no argument.") }
        case "pubkeyauthentication":
            guard ["yes", "no", "true", "false", "unbound", "host-bound"].contains(first.lowercased()) else {
                throw bad("Bad yes/no argument.")
            }
        case "stricthostkeychecking":
            guard ["yes", "no", "true", "false", "off", "ask", "accept-new"].contains(first.lowercased()) else {
                throw bad("Bad yes/no/ask argument.")
            }
        case "connecttimeout", "serveraliveinterval", "serveralivecountmax", "connectionattempts":
            guard
                first.lowercased() == "none" && line.keyword == "connecttimeout" || Int(first).map({ $0 >= 0 }) == true
            else {
                throw bad("Bad number.")
            }
        case "addressfamily":
            guard ["any", "inet", "inet6"].contains(first.lowercased()) else { throw bad("Bad address family.") }
        case "requesttty":
            guard ["no", "yes", "force", "auto"].contains(first.lowercased()) else {
                throw bad("Bad RequestTTY argument.")
            }
        default:
            break
        }
    }

    /// The tokens for the values obtained.
    var tokens: ConfigTokens {
        let port = values["port"]?.first.flatMap(Int.init) ?? 22
        return ConfigTokens(
            hostName: resolvedHostName, originalHost: originalHost, port: port,
            remoteUser: userForMatch, hostKeyAlias: values["hostkeyalias"]?.first, local: local)
    }

    /// `HostName` with `%h` and `%%` expanded, lowercased.
    var resolvedHostName: String {
        guard let name = values["hostname"]?.first else { return originalHost.lowercased() }
        return name.replacingOccurrences(of: "%%", with: "\u{0}").replacingOccurrences(of: "%h", with: originalHost)
            .replacingOccurrences(of: "\u{0}", with: "%").lowercased()
    }

    /// The result, with the path-like values expanded.
    func resolved() throws(SSHError) -> SSHResolvedConfig {
        let tokens = self.tokens
        func expand(_ keyword: String, _ value: String) throws(SSHError) -> String {
            let location = origins[keyword] ?? keyword
            return try ConfigTokens.tilde(ConfigTokens.environment(tokens.percent(value, at: location), at: location))
        }
        var identities: [String] = []
        for file in values["identityfile"] ?? [] { identities.append(try expand("identityfile", file)) }
        var certificates: [String] = []
        for file in values["certificatefile"] ?? [] { certificates.append(try expand("certificatefile", file)) }
        var knownHosts: [String] = []
        for file in values["userknownhostsfile"] ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"] {
            knownHosts.append(try expand("userknownhostsfile", file))
        }
        var agent: String?
        if let value = values["identityagent"]?.first {
            agent =
                value == "none" || value == "SSH_AUTH_SOCK" || value.hasPrefix("$")
                ? value : try expand("identityagent", value)
        }
        var proxy: String?
        if let command = values["proxycommand"]?.first, command.lowercased() != "none" {
            proxy = try tokens.percent(
                command, allowed: ["%", "h", "n", "p", "r", "k"], at: origins["proxycommand"] ?? "ProxyCommand")
        }
        return SSHResolvedConfig(
            originalHost: originalHost, values: values, origins: origins, hostName: resolvedHostName,
            identityFiles: identities, certificateFiles: certificates, identityAgent: agent,
            userKnownHostsFiles: knownHosts, proxyCommand: proxy, localUser: local.user)
    }
}
