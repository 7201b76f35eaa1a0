import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A tiny tmpfs mounted on a fresh directory, for filling a disk on purpose ("No space left on device").
///
/// Mounting needs root (as CI runs); ``mount(bytes:)`` returns `nil` otherwise, and tests that need it say so when
/// they skip (``unavailableReason``).
public final class SmallFileSystem: Sendable {
    /// Where it is mounted (writable by everyone, so the test account's sshd session can fill it too).
    public let path: String

    private init(path: String) { self.path = path }

    /// Whether this process may mount file systems.
    public static var available: Bool { getuid() == 0 }

    /// Why tests that fill a disk cannot run here, when they cannot.
    public static var unavailableReason: String { "filling a disk needs root to mount a small tmpfs" }

    /// Mounts a tmpfs of `bytes` on a new temporary directory, or returns `nil` when not root.
    public static func mount(bytes: Int) async throws -> SmallFileSystem? {
        guard available else { return nil }
        return try await offPool {
            let path = NSTemporaryDirectory() + "pssh-full-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try ProcessRunner.run(["/bin/mount", "-t", "tmpfs", "-o", "size=\(bytes),mode=0777", "tmpfs", path])
            return SmallFileSystem(path: path)
        }
    }

    /// The names it holds.
    public func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path)
    }

    /// Unmounts it and removes the directory.
    public func unmount() async {
        let path = self.path
        _ = try? await offPool {
            try ProcessRunner.run(["/bin/umount", path])
            try FileManager.default.removeItem(atPath: path)
        }
    }
}
