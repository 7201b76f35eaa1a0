import SSHBackend
import SSHEventLoop
import SSHFileTransfer
import Synchronization

/// A host's files, in memory: what the fake's SFTP subsystem reads and writes. Paths are absolute and normalised
/// by the caller (`/` separated, no `.` or `..`); `/` always exists.
public final class FakeFiles: Sendable {
    /// One entry.
    public enum Entry: Sendable, Equatable {
        /// A file with its bytes and permission bits.
        case file([UInt8], mode: UInt32)
        /// A directory with its permission bits.
        case directory(mode: UInt32)
    }

    private let entries = Mutex<[String: Entry]>(["/": .directory(mode: 0o755)])

    /// An empty file system (just `/`).
    public init() {}

    /// The entry at `path`, if any.
    public subscript(path: String) -> Entry? {
        get { entries.withLock { $0[path] } }
        set { entries.withLock { $0[path] = newValue } }
    }

    /// The names directly inside `directory`, sorted.
    public func names(in directory: String) -> [String] {
        let prefix = directory == "/" ? "/" : directory + "/"
        return entries.withLock { entries in
            entries.keys.filter { $0 != "/" && $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
                .map { String($0.dropFirst(prefix.count)) }.sorted()
        }
    }

    /// Applies `change` to the entries atomically.
    func update<T>(_ change: (inout [String: Entry]) -> T) -> T {
        entries.withLock { change(&$0) }
    }
}

/// The `sftp` subsystem of a fake host: an SFTP version 3 server over the channel's byte streams, on
/// ``FakeFiles``. It answers every request the package's SFTP client sends; requests are answered in order.
final class FakeSFTPChannel: SSHChannel {
    let stdout: SSHByteStream
    let stderr: SSHByteStream
    private let output = ByteStreamBuffer(capacity: .max) {}
    private let files: FakeFiles
    private let state = Mutex(State())
    private let ended = OneShot<Void>()

    private struct State {
        var input = PacketBuffer()
        var handles: [UInt32: Handle] = [:]
        var nextHandle: UInt32 = 1
    }

    private enum Handle {
        case file(path: String)
        case directory(names: [String]?)
    }

    init(files: FakeFiles) {
        self.files = files
        stdout = SSHByteStream(output)
        let empty = ByteStreamBuffer(capacity: 1) {}
        empty.finish()
        stderr = SSHByteStream(empty)
    }

    var exitResult: Result<SSHExitStatus, SSHError>? { ended.result == nil ? nil : .success(SSHExitStatus(code: 0)) }

    func write(_ bytes: [UInt8]) async throws {
        let replies = try state.withLock { (state) throws(SSHError) -> [[UInt8]] in
            state.input.append(bytes)
            var replies: [[UInt8]] = []
            while let packet = try state.input.next() { replies.append(answer(packet, &state)) }
            return replies
        }
        for reply in replies { output.append(reply) }
    }

    func sendEOF() async throws { end() }
    func sendSignal(_ name: String) async throws {}
    func close() async { end() }

    func exitStatus() async throws -> SSHExitStatus {
        try await ended.value()
        return SSHExitStatus(code: 0)
    }

    private func end() {
        output.finish()
        ended.settle(.success(()))
    }

    // MARK: The server

    private func answer(_ packet: [UInt8], _ state: inout State) -> [UInt8] {
        var request = SFTPReader(packet)
        do {
            guard let type = SFTP.PacketType(rawValue: try request.readByte()) else { return [] }
            if type == .initialize {
                var version = SFTPWriter(.version)
                version.write(UInt32(3))
                return version.finished()
            }
            let id = try request.readUInt32()
            return try serve(type, id: id, &request, &state)
        } catch {
            return []
        }
    }

    private func serve(_ type: SFTP.PacketType, id: UInt32, _ request: inout SFTPReader, _ state: inout State)
        throws(SSHError) -> [UInt8]
    {
        func status(_ code: SFTP.StatusCode, _ message: String = "") -> [UInt8] {
            var reply = SFTPWriter(.status, id: id)
            reply.write(code.rawValue)
            reply.write(message)
            reply.write("")
            return reply.finished()
        }
        func handle(_ value: Handle) -> [UInt8] {
            let number = state.nextHandle
            state.nextHandle += 1
            state.handles[number] = value
            var reply = SFTPWriter(.handle, id: id)
            reply.write(bytes: Array(String(number).utf8))
            return reply.finished()
        }
        func attributes(_ entry: FakeFiles.Entry) -> [UInt8] {
            var reply = SFTPWriter(.attrs, id: id)
            reply.write(Self.attributes(of: entry))
            return reply.finished()
        }
        func handleNumber(_ request: inout SFTPReader) throws(SSHError) -> UInt32 {
            UInt32(String(decoding: try request.readBytes(), as: UTF8.self)) ?? 0
        }
        func parentExists(_ path: String) -> Bool {
            let parent = path.split(separator: "/").dropLast().joined(separator: "/")
            if case .directory = files["/" + parent] { return true }
            return false
        }

        switch type {
        case .open:
            let path = try request.readString()
            let flags = SFTP.OpenFlags(rawValue: try request.readUInt32())
            let mode = try request.readAttributes().mode ?? 0o644
            if flags.contains(.write) {
                guard parentExists(path) else { return status(.noSuchFile, "no such directory") }
                if case .directory = files[path] { return status(.failure, "is a directory") }
                let created = files.update { entries -> Bool in
                    if case .file(let bytes, let oldMode) = entries[path] {
                        entries[path] = .file(flags.contains(.truncate) ? [] : bytes, mode: oldMode)
                        return true
                    }
                    guard flags.contains(.create) else { return false }
                    entries[path] = .file([], mode: mode)
                    return true
                }
                return created ? handle(.file(path: path)) : status(.noSuchFile)
            }
            guard case .file = files[path] else { return status(files[path] == nil ? .noSuchFile : .failure) }
            return handle(.file(path: path))
        case .opendir:
            let path = try request.readString()
            guard case .directory = files[path] else { return status(.noSuchFile) }
            return handle(.directory(names: files.names(in: path)))
        case .close:
            state.handles[try handleNumber(&request)] = nil
            return status(.ok)
        case .read:
            guard case .file(let path)? = state.handles[try handleNumber(&request)],
                case .file(let bytes, _)? = files[path]
            else { return status(.failure, "bad handle") }
            let offset = Int(clamping: try request.readUInt64())
            let length = Int(try request.readUInt32())
            guard offset < bytes.count else { return status(.eof) }
            var reply = SFTPWriter(.data, id: id)
            reply.write(bytes: bytes[offset..<min(bytes.count, offset + length)])
            return reply.finished()
        case .write:
            guard case .file(let path)? = state.handles[try handleNumber(&request)] else {
                return status(.failure, "bad handle")
            }
            let offset = Int(clamping: try request.readUInt64())
            let data = try request.readBytes()
            files.update { entries in
                guard case .file(var bytes, let mode) = entries[path] else { return }
                if bytes.count < offset + data.count {
                    bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count)
                }
                bytes.replaceSubrange(offset..<offset + data.count, with: data)
                entries[path] = .file(bytes, mode: mode)
            }
            return status(.ok)
        case .readdir:
            let number = try handleNumber(&request)
            guard case .directory(let names)? = state.handles[number] else { return status(.failure, "bad handle") }
            guard let names else { return status(.eof) }
            state.handles[number] = .directory(names: nil)
            var reply = SFTPWriter(.name, id: id)
            reply.write(UInt32(names.count))
            for name in names {
                reply.write(name)
                reply.write(name)
                reply.write(SSHFileAttributes())
            }
            return reply.finished()
        case .stat, .lstat:
            guard let entry = files[try request.readString()] else { return status(.noSuchFile) }
            return attributes(entry)
        case .fstat:
            guard case .file(let path)? = state.handles[try handleNumber(&request)], let entry = files[path] else {
                return status(.failure, "bad handle")
            }
            return attributes(entry)
        case .setstat:
            let path = try request.readString()
            guard let mode = try request.readAttributes().mode else { return status(.ok) }
            return files.update { entries -> Bool in
                switch entries[path] {
                case .file(let bytes, _): entries[path] = .file(bytes, mode: mode)
                case .directory: entries[path] = .directory(mode: mode)
                case nil: return false
                }
                return true
            } ? status(.ok) : status(.noSuchFile)
        case .fsetstat:
            return status(.ok)
        case .mkdir:
            let path = try request.readString()
            let mode = try request.readAttributes().mode ?? 0o755
            guard parentExists(path) else { return status(.noSuchFile) }
            guard files[path] == nil else { return status(.failure, "exists") }
            files[path] = .directory(mode: mode)
            return status(.ok)
        case .rename:
            let from = try request.readString()
            let to = try request.readString()
            return files.update { entries -> Bool in
                guard entries[to] == nil, let entry = entries.removeValue(forKey: from) else { return false }
                entries[to] = entry
                return true
            } ? status(.ok) : status(.failure, "cannot rename")
        case .remove, .rmdir:
            let path = try request.readString()
            return files.update { $0.removeValue(forKey: path) != nil } ? status(.ok) : status(.noSuchFile)
        case .realpath:
            let path = try request.readString()
            var reply = SFTPWriter(.name, id: id)
            reply.write(UInt32(1))
            reply.write(path)
            reply.write(path)
            reply.write(SSHFileAttributes())
            return reply.finished()
        default:
            return status(.unsupported)
        }
    }

    private static func attributes(of entry: FakeFiles.Entry) -> SSHFileAttributes {
        switch entry {
        case .file(let bytes, let mode): SSHFileAttributes(size: UInt64(bytes.count), mode: 0o100000 | mode)
        case .directory(let mode): SSHFileAttributes(size: 0, mode: 0o040000 | mode)
        }
    }
}
