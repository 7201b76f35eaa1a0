import SSHBackend

/// `[user@]host[:port]`, as `ssh -J` and host lists write a host (IPv6 in brackets when a port follows:
/// `[::1]:2222`; a bare IPv6 address has no port).
package struct UserHostPort: Sendable, Hashable {
    /// The login user, if given.
    package var user: String?
    /// The host name, address or `ssh_config` alias.
    package var host: String
    /// The port, if given.
    package var port: Int?

    /// Reads `text`; `nil` when it names no host, has an empty user, or a port that is not a number in 1...65535.
    package init?(_ text: some StringProtocol) {
        var rest = Substring(text)
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            if user?.isEmpty == true { return nil }
        }
        var portText: Substring?
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let after = rest[rest.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return nil }
            if after.hasPrefix(":") { portText = after.dropFirst() }
            rest = rest[rest.index(after: rest.startIndex)..<close]
        } else if rest.filter({ $0 == ":" }).count == 1, let colon = rest.firstIndex(of: ":") {
            portText = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
        }
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else { return nil }
            port = number
        }
        guard !rest.isEmpty else { return nil }
        host = String(rest)
    }

    /// Throws unless the host and user are names OpenSSH would accept (see `SSHNameCheck`): nothing a shell
    /// would act on, no leading `-`.
    /// - Throws: `invalidArgument` naming the hop and the offending character; `role` says what it is.
    func checkNames(role: String) throws(SSHError) {
        try SSHNameCheck.checkHost(host, role: role, port: port)
        if let user {
            try SSHNameCheck.checkUser(user, host: host, port: port, role: "user name of the \(role) \(host)")
        }
    }
}
