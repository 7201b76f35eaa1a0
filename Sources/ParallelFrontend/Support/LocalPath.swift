#if canImport(Glibc)
import Glibc
#endif

/// Facts about local paths.
enum LocalPath {
    /// Permission bits and whether it is a directory, or nil when it does not exist.
    static func attributes(_ path: String) -> (mode: UInt32, isDirectory: Bool)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt32(info.st_mode) & 0o7777, (info.st_mode & S_IFMT) == S_IFDIR)
    }
}
