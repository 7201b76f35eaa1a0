/// Arithmetic on `/`-separated paths, local and remote alike (both sides are POSIX here).
enum PathName {
    /// The last component, ignoring one trailing slash: `a/b/` gives `b`.
    static func baseName(_ path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }

    /// The parent directory (`""` for a bare name, `/` for a top-level entry).
    static func parent(of path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// `name` inside `directory`, with exactly one slash between them.
    static func joined(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// `dir/.name.pssh-<random>.part` beside `path`: where a download is written before it is complete.
    static func temporaryName(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory).\(name).pssh-\(UInt32.random(in: 0...UInt32.max)).part"
    }

    /// Whether a name sent by the server may be created inside a local directory: one component, not `.` or `..`
    /// (so a hostile server cannot write outside the requested place).
    static func isPlainEntry(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }
}
