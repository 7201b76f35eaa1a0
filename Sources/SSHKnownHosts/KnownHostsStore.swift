import Foundation
import SSHBackend
import SSHEventLoop
import Synchronization

/// The known-hosts files of the process: each set of files (a policy's user files then global files) is parsed
/// once into a ``KnownHostsIndex`` on the blocking pool, re-checked on disk at most once a second, and looked up
/// once per name; keys accepted in this process are seen by every later lookup at once, before they reach the
/// file.
public final class KnownHostsStore: Sendable {
    /// The store every connection uses.
    public static let shared = KnownHostsStore()

    private struct FileStamp: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int
        var modifiedNanoseconds: Int
    }

    private struct LoadedSet {
        var stamps: [FileStamp?]
        var index: KnownHostsIndex
        var checked: ContinuousClock.Instant
        var lookups: [String: [KnownHostsEntry]] = [:]
    }

    private struct State {
        var sets: [[String]: LoadedSet] = [:]
        /// Keys accepted in this process, by lookup name (per first user file), before and after they are written.
        var accepted: [String: [String: [KnownHostsEntry]]] = [:]
    }

    private let state = Mutex(State())
    private let writers = Mutex<[String: KnownHostsWriter]>([:])

    /// Creates an empty store (tests use their own; connections use ``shared``).
    public init() {}

    /// Where a set of files stands: loaded and fresh, or to be (re)loaded.
    private func fresh(_ paths: [String]) -> Bool {
        state.withLock { state in
            guard let set = state.sets[paths] else { return false }
            return ContinuousClock.now - set.checked < .seconds(1)
        }
    }

    /// Makes sure `paths` are loaded and current (reading on the blocking pool when needed).
    func load(_ paths: [String]) async {
        if fresh(paths) { return }
        let stamps = await BlockingPool.files.run { paths.map(Self.stamp) }
        let unchanged = state.withLock { state -> Bool in
            guard var set = state.sets[paths], set.stamps == stamps else { return false }
            set.checked = .now
            state.sets[paths] = set
            return true
        }
        if unchanged { return }
        let entries = await BlockingPool.files.run { paths.flatMap(Self.read) }
        let index = KnownHostsIndex(entries)
        state.withLock { $0.sets[paths] = LoadedSet(stamps: stamps, index: index, checked: .now) }
    }

    /// The entries matching `name` in `paths` (loaded), plus keys accepted in this process for it.
    func lookup(_ name: String, in paths: [String]) -> [KnownHostsEntry] {
        let lowered = name.lowercased()
        let cached = state.withLock { state -> (entries: [KnownHostsEntry]?, index: KnownHostsIndex?) in
            guard let set = state.sets[paths] else { return (nil, nil) }
            return (set.lookups[lowered], set.index)
        }
        var entries = cached.entries ?? []
        if cached.entries == nil, let index = cached.index {
            entries = index.lookup(lowered)
            state.withLock { $0.sets[paths]?.lookups[lowered] = entries }
        }
        let firstFile = paths.first ?? ""
        return entries + state.withLock { $0.accepted[firstFile]?[lowered] ?? [] }
    }

    /// How many hashed entries `paths` hold (for the scale warning).
    func hashedCount(_ paths: [String]) -> Int { state.withLock { $0.sets[paths]?.index.hashedCount ?? 0 } }

    /// Records `key` for `name` in memory at once, then appends its line to `file` (batched with other accepted
    /// keys, under `flock`); returns once the line is written. A key already accepted for the name is not
    /// written again.
    /// - Throws: the write's failure (the key stays accepted in memory for this process).
    func accept(_ key: HostKeyInfo, name: String, file: String, hashed: Bool) async throws {
        let lowered = name.lowercased()
        let entry = KnownHostsEntry(
            marker: .none, names: .patterns([HostPattern.Pattern(Substring(lowered))]), key: key,
            file: file, line: 0)
        let first = state.withLock { state -> Bool in
            if state.accepted[file]?[lowered]?.contains(where: { $0.key == key }) == true { return false }
            state.accepted[file, default: [:]][lowered, default: []].append(entry)
            return true
        }
        // Concurrent first contacts with the same key (the same host listed twice) write one line.
        guard first else { return }
        let line = KnownHostsLine.make(name: lowered, key: key, hashed: hashed)
        let writer = writers.withLock { writers in
            if let existing = writers[file] { return existing }
            let created = KnownHostsWriter(path: file)
            writers[file] = created
            return created
        }
        try await writer.append(line)
    }

    private static func stamp(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec)
    }

    private static func read(_ path: String) -> [KnownHostsEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return KnownHostsParser.parse(Array(data), file: path).entries
    }
}

/// The text of a new known-hosts line, as OpenSSH writes it: the lowercase name (or `|1|salt|hash` with a fresh
/// salt), the key type and base64, a newline, no comment.
enum KnownHostsLine {
    static func make(name: String, key: HostKeyInfo, hashed: Bool) -> String {
        var names = name
        if hashed {
            let salt = (0..<20).map { _ in UInt8.random(in: 0...255) }
            let hash = HMACSHA1(key: salt).authenticate(Array(name.utf8))
            names = "|1|\(Data(salt).base64EncodedString())|\(Data(hash).base64EncodedString())"
        }
        return "\(names) \(key.blobType) \(key.base64)\n"
    }
}

/// Appends lines to one known-hosts file: lines that arrive while a write is under way go out together in the
/// next one, as a single `write(2)` on an `O_APPEND` descriptor under `flock`, so thousands of hosts accepted at
/// once cost a few writes, and no line is torn or lost between processes that lock the same way.
final class KnownHostsWriter: Sendable {
    private struct Pending {
        var lines: [String] = []
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var writing = false
    }

    private let path: String
    private let pending = Mutex(Pending())

    init(path: String) { self.path = path }

    /// Queues `line`; returns once it is written (or the write failed).
    func append(_ line: String) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start = pending.withLock { pending -> Bool in
                pending.lines.append(line)
                pending.waiters.append(continuation)
                if pending.writing { return false }
                pending.writing = true
                return true
            }
            if start { BlockingPool.files.submit { self.drain() } }
        }
    }

    /// Writes batches until nothing is pending (on the blocking pool).
    private func drain() {
        while true {
            let batch = pending.withLock {
                pending -> (lines: [String], waiters: [CheckedContinuation<Void, any Error>])? in
                if pending.lines.isEmpty {
                    pending.writing = false
                    return nil
                }
                defer {
                    pending.lines.removeAll()
                    pending.waiters.removeAll()
                }
                return (pending.lines, pending.waiters)
            }
            guard let batch else { return }
            let result = Result { () throws(SSHError) in try write(batch.lines.joined()) }
            for waiter in batch.waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
        }
    }

    private func write(_ text: String) throws(SSHError) {
        func failure(_ what: String) -> SSHError {
            SSHError(
                .fileTransferFailed,
                message: "cannot \(what) the known-hosts file \(path): \(String(cString: strerror(errno)))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            // OpenSSH creates ~/.ssh 0700 when the file lies under it.
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else { throw failure("create the directory of") }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("open") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw failure("lock") }
        defer { flock(fd, LOCK_UN) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw failure("write") }
            offset += written
        }
    }
}
