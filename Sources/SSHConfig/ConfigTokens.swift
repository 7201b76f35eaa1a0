import Foundation
import SSHBackend
import SSHKnownHosts

/// The local facts `%` tokens and `~` need: the local user, home, uid and host name.
struct LocalIdentity: Sendable {
    let user: String
    let home: String
    let uid: UInt32
    let hostName: String

    static let current: LocalIdentity = {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let home =
            ProcessInfo.processInfo.environment["HOME"] ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) }
            ?? "/"
        return LocalIdentity(
            user: SSHConnectionOptions.currentUser, home: home, uid: getuid(),
            hostName: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }()
}

/// OpenSSH's expansions of configuration values: `%` tokens, `${VAR}` and `~`.
struct ConfigTokens {
    let values: [Character: String]

    /// The tokens of ssh_config(5) "TOKENS" for a connection.
    init(
        hostName: String, originalHost: String, port: Int, remoteUser: String, hostKeyAlias: String?,
        local: LocalIdentity = .current
    ) {
        let longHost = local.hostName
        let shortHost = String(longHost.split(separator: ".").first ?? Substring(longHost))
        let connection = SHA1.hash(Array((longHost + hostName + String(port) + remoteUser).utf8))
            .map { String(format: "%02x", $0) }.joined()
        values = [
            "%": "%", "C": connection, "d": local.home, "h": hostName, "i": String(local.uid),
            "k": hostKeyAlias ?? originalHost,
            "L": shortHost, "l": longHost, "n": originalHost, "p": String(port), "r": remoteUser, "u": local.user,
        ]
    }

    /// `text` with `%x` tokens replaced (only those in `allowed`, or all when `nil`).
    func percent(_ text: String, allowed: Set<Character>? = nil, at location: String) throws(SSHError) -> String {
        var result = ""
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                result.append(character)
                continue
            }
            guard let token = iterator.next(), allowed?.contains(token) ?? true, let value = values[token] else {
                throw SSHError(.invalidArgument, message: "\(location): unknown or misplaced %-token in \"\(text)\"")
            }
            result += value
        }
        return result
    }

    /// `text` with `${NAME}` replaced from the environment; an unset variable is an error, as in OpenSSH 9.2.
    static func environment(_ text: String, at location: String) throws(SSHError) -> String {
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw SSHError(.invalidArgument, message: "\(location): unterminated ${ in \"\(text)\"")
            }
            let name = String(rest[start.upperBound..<end])
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw SSHError(.invalidArgument, message: "\(location): env var ${\(name)} has no value")
            }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    /// `~` and `~user` at the start of `path`.
    static func tilde(_ path: String, local: LocalIdentity = .current) -> String {
        guard path.hasPrefix("~") else { return path }
        let slash = path.firstIndex(of: "/") ?? path.endIndex
        let name = path[path.index(after: path.startIndex)..<slash]
        if name.isEmpty { return local.home + path[slash...] }
        guard let entry = getpwnam(String(name)) else { return path }
        return String(cString: entry.pointee.pw_dir) + path[slash...]
    }
}
