/// The name `fleetsh fetch` gives a host's copy inside `DIR/<host>/`.
public enum FetchName {
    /// The remote path's last component as written, never expanded against this machine's accounts (Foundation's
    /// `URL(fileURLWithPath:)` would turn `~` into the local home's name). A home directory written as `~` or
    /// `~user` has no name of its own here, so its contents land in `DIR/<host>/` itself, as `.` does.
    public static func of(_ remotePath: String) -> String {
        let components = remotePath.split(separator: "/", omittingEmptySubsequences: true)
        guard let last = components.last else { return "." }
        if components.count == 1 && last.hasPrefix("~") && !remotePath.hasPrefix("/") { return "." }
        return String(last)
    }
}
