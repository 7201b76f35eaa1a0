/// Remote paths as OpenSSH's `scp` reads them (`prepare_remote_path` in scp.c): `~` and `~/…` name the login's
/// home directory, where both the SFTP subsystem and `scp` start, so they become paths relative to it; `~user` and
/// `~user/…` name another account's home, which only the server can expand. Every other path goes as written
/// (absolute, or relative to the home directory).
///
/// Meanings are idempotent: what ``meaning(of:)`` returns as ``Meaning/plain(_:)`` never starts with `~` (a name
/// that does is written `./~…`), so a path resolved once is never resolved into something else.
enum RemotePath {
    /// What a remote path written by the user names.
    enum Meaning: Equatable {
        /// A path the server takes as it stands.
        case plain(String)
        /// `~user` (`rest` empty) or `~user/rest`: inside `user`'s home directory.
        case home(user: String, rest: String)
    }

    /// The meaning of `path`: `""`, `~` and `~/` are the home directory (`.`), `~/rest` is `rest` (its leading
    /// slashes dropped, as scp does), `~user[/rest]` is ``Meaning/home(user:rest:)``.
    static func meaning(of path: String) -> Meaning {
        if path.isEmpty || path == "~" { return .plain(".") }
        guard path.hasPrefix("~") else { return .plain(path) }
        let afterTilde = path.dropFirst()
        let user = afterTilde.prefix { $0 != "/" }
        let rest = afterTilde.dropFirst(user.count).drop { $0 == "/" }
        guard user.isEmpty else { return .home(user: String(user), rest: String(rest)) }
        if rest.isEmpty { return .plain(".") }
        return .plain(rest.hasPrefix("~") ? "./" + rest : String(rest))
    }

    /// Whether `user` may be put unquoted after `~` in a remote shell command: the portable user-name characters
    /// (letters, digits, `.`, `_`, `-`; not starting with `-`), so nothing in it is special to the shell.
    static func isShellSafeUser(_ user: String) -> Bool {
        guard let first = user.utf8.first, first != UInt8(ascii: "-") else { return false }
        return user.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }
}
