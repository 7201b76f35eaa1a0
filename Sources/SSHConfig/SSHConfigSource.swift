/// Which `ssh_config` files a client reads, as `ssh` chooses them.
public struct SSHConfigSource: Sendable, Hashable {
    /// The user's file (`~/.ssh/config`, or the one given as with `ssh -F`), checked for safe ownership and
    /// permissions as OpenSSH does; `nil` for none.
    public var userFile: String?
    /// The system file (`/etc/ssh/ssh_config`), read after the user's; `nil` for none.
    public var systemFile: String?

    /// Lines given as `ssh -o` takes them (`Keyword=value` or `Keyword value`), applied before any file, so they win
    /// (first value obtained wins); errors name them `command-line line N`.
    public var options: [String]

    /// Creates a source.
    public init(userFile: String?, systemFile: String?, options: [String] = []) {
        self.userFile = userFile
        self.systemFile = systemFile
        self.options = options
    }

    /// What `ssh` reads by default: `~/.ssh/config`, then `/etc/ssh/ssh_config`.
    public static let `default` = SSHConfigSource(userFile: "~/.ssh/config", systemFile: "/etc/ssh/ssh_config")
    /// No file (`ssh -F none`). Named so, not `none`, because `.none` on an optional means "not given".
    public static let disabled = SSHConfigSource(userFile: nil, systemFile: nil)

    /// Only `path`, as `ssh -F path` (the system file is not read).
    public static func file(_ path: String) -> SSHConfigSource { SSHConfigSource(userFile: path, systemFile: nil) }
}
