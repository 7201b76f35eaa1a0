import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A local file whose reads and writes run on the blocking pool, never on an event loop or Swift's cooperative
/// threads. Errors name the host the transfer is for, the local path and the cause.
package final class LocalFile: @unchecked Sendable {
    /// Bytes per local read or write in a transfer: few trips to the blocking pool, but not more. Writing 1 MiB
    /// at a time made a 200 MB download cost up to twice the CPU on some runs, all of it in the kernel's copy into
    /// the page cache; 128-512 KiB did not (measured with `bench/run`).
    static let blockSize = 256 * 1024

    /// The file's path.
    let path: String
    private let fd: Int32
    private let host: String
    private let port: Int

    private init(path: String, fd: Int32, host: String, port: Int) {
        self.path = path
        self.fd = fd
        self.host = host
        self.port = port
    }

    deinit { close(fd) }

    /// What `stat` says about a local path (a link followed), or nil when it does not exist.
    static func attributes(of path: String) async throws -> Attributes? {
        try await blocking { () throws(SSHError) -> Attributes? in statAttributes(path) }
    }

    /// `attributes(of:)` on the calling thread (a blocking-pool thread).
    private static func statAttributes(_ path: String) -> Attributes? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Attributes(
            size: UInt64(info.st_size), mode: UInt32(info.st_mode) & 0o7777,
            isDirectory: (info.st_mode & S_IFMT) == S_IFDIR, isRegularFile: (info.st_mode & S_IFMT) == S_IFREG,
            identity: Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    }

    /// A local path's size, permission bits and kind.
    struct Attributes {
        let size: UInt64
        let mode: UInt32
        let isDirectory: Bool
        /// A regular file: neither a directory nor a device, FIFO or socket (which a copy would read without end,
        /// or wait on for ever).
        let isRegularFile: Bool
        /// Which file it is, whatever the path that reached it.
        let identity: Identity
    }

    /// A file's device and inode: a directory met again through a link is known by them.
    struct Identity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// The entries of the local directory `path` that a tree copy takes, in name order, with their attributes.
    /// Links are followed (as `scp -r` and parallel-ssh follow them), except to a directory in `ancestors` (`path`
    /// and the directories above it in the copy), which would make the copy endless (`loop -> .`). Devices, FIFOs
    /// and sockets are skipped, as `sftp put -r` skips them; so is an entry gone since the listing. The listing and
    /// every entry's `stat` take one trip to the blocking pool.
    static func treeEntries(of path: String, ancestors: Set<Identity>, host: String, port: Int) async throws
        -> [(path: String, name: String, attributes: Attributes)]
    {
        try await blocking { () throws(SSHError) -> [(path: String, name: String, attributes: Attributes)] in
            try names(in: path, host: host, port: port).compactMap { name in
                let entryPath = PathName.joined(path, name)
                guard let attributes = statAttributes(entryPath),
                    attributes.isRegularFile || (attributes.isDirectory && !ancestors.contains(attributes.identity))
                else { return nil }
                return (entryPath, name, attributes)
            }
        }
    }

    /// Where a download of `sourcePath` into `path` lands: `path` itself, or the source's name inside it when
    /// `path` is an existing directory (as with `scp`). Missing parent directories of `path` are created (as
    /// parallel-ssh's `os.makedirs`).
    static func destination(_ path: String, for sourcePath: String, host: String, port: Int) async throws -> String {
        if try await attributes(of: path)?.isDirectory == true {
            return PathName.joined(path, PathName.baseName(sourcePath))
        }
        try await makeDirectories(PathName.parent(of: path), host: host, port: port)
        return path
    }

    /// Creates `path` and its missing parents with mode 0755, as `mkdir -p` (an existing directory is fine; `""`
    /// is the current directory). The error names the first component that could not be made and why (a file in
    /// the way: "it is not a directory").
    package static func makeDirectories(_ path: String, host: String? = nil, port: Int? = nil) async throws {
        try await blocking { () throws(SSHError) in
            var prefix = path.hasPrefix("/") ? "/" : ""
            for component in path.split(separator: "/") {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
                if mkdir(prefix, 0o755) == 0 { continue }
                let code = errno
                if code == EEXIST, statAttributes(prefix)?.isDirectory == true { continue }
                let reason = code == EEXIST ? "it is not a directory" : String(cString: strerror(code))
                throw SSHError(
                    code == EEXIST ? .fileTransferFailed : kind(of: code),
                    host: host, port: port, message: "cannot create local directory \(prefix): \(reason)",
                    nativeCode: code, nativeMessage: reason)
            }
        }
    }

    /// Opens `path` for reading; a directory is an `invalidArgument` error (it needs a recursive copy), and so is
    /// anything but a regular file (as `scp` refuses it): a FIFO would be waited on for ever, a device read
    /// without end. The open does not wait for a FIFO's writer (`O_NONBLOCK`, which regular files ignore).
    static func openForReading(_ path: String, host: String, port: Int) async throws -> LocalFile {
        try await blocking { () throws(SSHError) -> LocalFile in
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw error(errno, path: path, host: host, port: port) }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                let code = errno
                close(fd)
                throw error(code, path: path, host: host, port: port)
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                throw SSHError(
                    .invalidArgument, host: host, port: port,
                    message: "local \(path) is a directory: copy it recursively")
            }
            if (info.st_mode & S_IFMT) != S_IFREG {
                close(fd)
                throw SSHError(
                    .invalidArgument, host: host, port: port,
                    message: "local \(TerminalText.sanitized(path, keepingLineBreaks: false)) is not a regular file")
            }
            return LocalFile(path: path, fd: fd, host: host, port: port)
        }
    }

    /// Creates `path` (a download's temporary name) for writing with the permission bits of `mode`, as OpenSSH's
    /// `sftp` and `scp` without `-p` do: setuid, setgid and sticky are dropped and the umask applies. The file
    /// is made anew (`O_EXCL`) and a symbolic link is never followed (`O_NOFOLLOW`): whatever stood at `path`
    /// (a stale temporary file or a link planted there) is removed first, never written through.
    static func create(_ path: String, mode: UInt32, host: String, port: Int) async throws -> LocalFile {
        try await blocking { () throws(SSHError) -> LocalFile in
            let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
            var fd = open(path, flags, mode_t(mode & 0o777))
            if fd < 0 && errno == EEXIST && unlink(path) == 0 {
                fd = open(path, flags, mode_t(mode & 0o777))
            }
            guard fd >= 0 else { throw error(errno, path: path, host: host, port: port) }
            PartialDownloads.started(path)
            return LocalFile(path: path, fd: fd, host: host, port: port)
        }
    }

    /// Size and mode of the open file.
    func attributes() -> (size: UInt64, mode: UInt32) {
        var info = stat()
        _ = fstat(fd, &info)
        return (UInt64(info.st_size), UInt32(info.st_mode) & 0o7777)
    }

    /// Reads up to `count` bytes; empty at the end of the file.
    func read(upTo count: Int) async throws -> [UInt8] {
        let (fd, path, host, port) = (self.fd, self.path, self.host, self.port)
        return try await Self.blocking { () throws(SSHError) -> [UInt8] in
            var failure: Int32 = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, filled in
                var total = 0
                while total < count {
                    let got = Glibc.read(fd, buffer.baseAddress! + total, count - total)
                    if got > 0 {
                        total += got
                        continue
                    }
                    if got < 0 && errno == EINTR { continue }
                    if got < 0 { failure = errno }
                    break
                }
                filled = total
            }
            if failure != 0 { throw LocalFile.error(failure, path: path, host: host, port: port) }
            return bytes
        }
    }

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) async throws {
        let (fd, path, host, port) = (self.fd, self.path, self.host, self.port)
        try await Self.blocking { () throws(SSHError) in
            let failure = bytes.withUnsafeBytes { buffer -> Int32 in
                var offset = 0
                while offset < buffer.count {
                    let wrote = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if wrote > 0 {
                        offset += wrote
                        continue
                    }
                    if wrote < 0 && errno == EINTR { continue }
                    return wrote < 0 ? errno : EIO
                }
                return 0
            }
            if failure != 0 { throw LocalFile.error(failure, path: path, host: host, port: port) }
        }
    }

    /// Renames the local file `from` to `to` (same directory, atomic).
    static func rename(_ from: String, to: String, host: String, port: Int) async throws {
        try await blocking { () throws(SSHError) in
            guard Glibc.rename(from, to) == 0 else { throw error(errno, path: to, host: host, port: port) }
            PartialDownloads.ended(from)
        }
    }

    /// Removes a local file, ignoring errors (cleanup of a failed download).
    static func remove(_ path: String) async {
        _ = try? await blocking { () throws(SSHError) in
            _ = unlink(path)
            PartialDownloads.ended(path)
        }
    }

    /// Creates a local directory (existing is fine) with the permission bits of `mode` and the owner's `rwx`
    /// (setuid, setgid and sticky dropped; the umask applies).
    static func makeDirectory(_ path: String, mode: UInt32, host: String, port: Int) async throws {
        try await blocking { () throws(SSHError) in
            if mkdir(path, mode_t(mode & 0o777 | 0o700)) != 0 && errno != EEXIST {
                throw error(errno, path: path, host: host, port: port)
            }
        }
    }

    /// The names in a local directory, without `.` and `..`, sorted (on the calling thread, a blocking-pool one).
    private static func names(in path: String, host: String, port: Int) throws(SSHError) -> [String] {
        guard let directory = opendir(path) else { throw error(errno, path: path, host: host, port: port) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// An error for a failed local operation on `path`.
    static func error(_ code: Int32, path: String, host: String, port: Int) -> SSHError {
        let reason = String(cString: strerror(code))
        return SSHError(
            kind(of: code), host: host, port: port, message: "local file \(path): \(reason)", nativeCode: code,
            nativeMessage: reason)
    }

    /// The error code for a failed local operation's `errno`.
    private static func kind(of code: Int32) -> SSHError.Code {
        switch code {
        case ENOENT, ENOTDIR: .noSuchFile
        case EACCES, EPERM: .permissionDenied
        case ENOSPC, EDQUOT: .noSpace
        default: .fileTransferFailed
        }
    }

    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(SSHError) -> T) async throws -> T {
        try await BlockingPool.files.run(body)
    }
}
