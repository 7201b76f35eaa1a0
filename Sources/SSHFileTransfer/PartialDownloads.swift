import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The temporary files of downloads in progress (`.<name>.pssh-<n>.part`, renamed to the final name when
/// complete). A process that is told to stop (SIGTERM, Ctrl-C) calls ``removeAll()`` before it exits, so no
/// partial file is left behind; `fleetsh copy` and `fetch` do.
public enum PartialDownloads {
    private static let paths = Mutex<Set<String>>([])

    /// Removes every temporary file of a download still in progress (synchronously; safe to call from a signal
    /// source's handler before `exit`) and returns how many there were.
    @discardableResult
    public static func removeAll() -> Int {
        let current = paths.withLock { paths -> Set<String> in
            defer { paths.removeAll() }
            return paths
        }
        for path in current { unlink(path) }
        return current.count
    }

    /// The temporary files now in progress.
    public static var inProgress: Set<String> { paths.withLock { $0 } }

    static func started(_ path: String) { _ = paths.withLock { $0.insert(path) } }

    static func ended(_ path: String) { _ = paths.withLock { $0.remove(path) } }
}
