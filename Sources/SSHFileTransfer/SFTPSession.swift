import SSHBackend
import SSHEventLoop
import Synchronization

/// An SFTP (version 3) client on one channel of any engine: the protocol is driven here, over the channel's
/// byte streams, so it is non-blocking and identical on every engine (libssh 0.10's own SFTP API cannot run
/// non-blocking). Requests are pipelined: many may be in flight, each answered through its own slot.
package final class SFTPSession: SSHSFTPClient {
    /// Bytes per READ or WRITE request (OpenSSH's sftp-server accepts up to 256 KiB).
    static let chunkSize = 64 * 1024
    /// Requests in flight when a transfer starts: `chunkSize` × this is what it first keeps on the wire (2 MiB,
    /// the floor of ``ReceiveWindowBudget``).
    static let requestsInFlight = 32
    /// Answers a download lets come back before it asks for more in one write.
    static let refillBatch = 8

    /// The channel's receive window, drawn from the process's ``ReceiveWindowBudget`` for the session's life.
    private let window: ReceiveWindowReservation
    /// Requests in flight at most: a download grows its pipeline by one request per answer up to the channel's
    /// window, so it fills a long round trip (the bandwidth-delay product) without holding more than its share.
    var maximumRequestsInFlight: Int { max(Self.requestsInFlight, window.bytes / Self.chunkSize) }
    /// WRITE requests an upload keeps unanswered: twice the server's usual window (OpenSSH's 2 MiB) when the
    /// budget allows, so the window, not our wait for answers, bounds the upload; queued data beyond the server's
    /// window waits in the channel, bounded by this.
    var uploadRequestsInFlight: Int { min(maximumRequestsInFlight, 2 * Self.requestsInFlight) }

    let channel: any SSHChannel
    let host: String
    let port: Int
    private let state = Mutex(State())

    private struct State {
        var nextID: UInt32 = 1
        var pending: [UInt32: Slot] = [:]
        var failure: SSHError?
        /// The extensions the server named in its version packet.
        var extensions: Set<String> = []
    }

    /// OpenSSH's extension (8.7 and later) that expands `~` and `~user` paths on the server.
    static let expandPathExtension = "expand-path@openssh.com"

    /// One answer to one request, awaited once.
    final class Slot: Sendable {
        private let state = Mutex<(reply: Result<Reply, SSHError>?, waiter: CheckedContinuation<Reply, any Error>?)>(
            (nil, nil))

        func fulfil(_ result: Result<Reply, SSHError>) {
            let waiter = state.withLock { state -> CheckedContinuation<Reply, any Error>? in
                if state.reply != nil { return nil }
                state.reply = result
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(with: result.mapError { $0 as any Error })
        }

        var value: Reply {
            get async throws {
                // An answer already here is taken without suspending (most are, with many requests in flight).
                if let ready = state.withLock({ $0.reply }) { return try ready.get() }
                return try await withCheckedThrowingContinuation { continuation in
                    let ready = state.withLock { state -> Result<Reply, SSHError>? in
                        if state.reply == nil { state.waiter = continuation }
                        return state.reply
                    }
                    if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
                }
            }
        }
    }

    /// A response: its type and a reader positioned after the request id.
    struct Reply: Sendable {
        let type: SFTP.PacketType
        let body: [UInt8]
        let offset: Int
        var reader: SFTPReader { SFTPReader(body, offset: offset) }
    }

    private init(channel: any SSHChannel, host: String, port: Int, window: ReceiveWindowReservation) {
        self.channel = channel
        self.host = host
        self.port = port
        self.window = window
    }

    /// Opens the `sftp` subsystem on `session` and exchanges versions.
    package static func start(on session: any SSHSession) async throws -> SFTPSession {
        let window = ReceiveWindowBudget.shared.reserve()
        let channel = try await session.openChannel(
            SSHChannelRequest(kind: .subsystem("sftp"), receiveWindow: window.bytes))
        let sftp = SFTPSession(channel: channel, host: session.options.host, port: session.options.port, window: window)
        do {
            try await sftp.handshake()
        } catch {
            await channel.close()
            throw error
        }
        return sftp
    }

    private func handshake() async throws {
        var initialize = SFTPWriter(.initialize)
        initialize.write(UInt32(3))
        try await channel.write(initialize.finished())
        var buffer = PacketBuffer()
        while true {
            guard let chunk = try await channel.stdout.nextChunk() else {
                throw error(.protocolError, "the server closed the SFTP subsystem during the handshake")
            }
            buffer.append(chunk)
            let packet: [UInt8]?
            do { packet = try buffer.next() } catch { throw error.on(host: host, port: port) }
            if let packet {
                guard packet.first == SFTP.PacketType.version.rawValue else {
                    throw error(
                        .protocolError, "the SFTP server answered the handshake with packet type \(packet.first ?? 0)")
                }
                var reader = SFTPReader(packet, offset: 1)
                let version = try reader.readUInt32()
                guard version >= 3 else {
                    throw error(.unsupported, "the SFTP server speaks version \(version), not 3")
                }
                var extensions: Set<String> = []
                while reader.remaining > 0 {
                    extensions.insert(try reader.readString())
                    _ = try reader.readBytes()  // the extension's data
                }
                state.withLock { $0.extensions = extensions }
                break
            }
        }
        let leftover = buffer
        Task { await self.readReplies(buffer: leftover) }
    }

    /// Reads every response and hands it to its request's slot, until the channel ends.
    private func readReplies(buffer initial: PacketBuffer) async {
        var buffer = initial
        do {
            while true {
                while let packet = try buffer.next() { try dispatch(packet) }
                guard let chunk = try await channel.stdout.nextChunk() else { break }
                buffer.append(chunk)
            }
            failAll(error(.connectionLost, "the SFTP subsystem ended"))
        } catch let failure as SSHError {
            failAll(failure.on(host: host, port: port))
        } catch {
            failAll(self.error(.connectionLost, "the SFTP subsystem failed: \(error)"))
        }
    }

    private func dispatch(_ packet: [UInt8]) throws(SSHError) {
        var reader = SFTPReader(packet)
        let rawType = try reader.readByte()
        guard let type = SFTP.PacketType(rawValue: rawType) else {
            throw error(.protocolError, "the SFTP server sent unknown packet type \(rawType)")
        }
        let id = try reader.readUInt32()
        let slot = state.withLock { $0.pending.removeValue(forKey: id) }
        slot?.fulfil(.success(Reply(type: type, body: packet, offset: 5)))
    }

    private func failAll(_ failure: SSHError) {
        let slots = state.withLock { state in
            if state.failure == nil { state.failure = failure }
            defer { state.pending.removeAll() }
            return state.pending.values
        }
        for slot in slots { slot.fulfil(.failure(failure)) }
    }

    // MARK: Requests

    /// Sends a request built by `build` (given its id) and returns the slot its answer will fill.
    func send(_ type: SFTP.PacketType, reserve: Int = 64, _ build: (inout SFTPWriter) -> Void) async throws -> Slot {
        try await sendBatch(type, count: 1, reserve: reserve) { writer, _ in build(&writer) }[0]
    }

    /// Sends `count` requests of one type in a single channel write (one trip to the event loop instead of
    /// `count`); `build` fills request `index`. Returns their slots, in order.
    func sendBatch(
        _ type: SFTP.PacketType, count: Int, reserve: Int = 64,
        _ build: (inout SFTPWriter, Int) -> Void
    ) async throws -> [Slot] {
        guard count > 0 else { return [] }
        let slots = (0..<count).map { _ in Slot() }
        let firstID = try state.withLock { (state) throws(SSHError) -> UInt32 in
            if let failure = state.failure { throw failure }
            let first = state.nextID
            for slot in slots {
                state.pending[state.nextID] = slot
                state.nextID &+= 1
            }
            return first
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * (reserve + 16))
        for index in 0..<count {
            var writer = SFTPWriter(type, id: firstID &+ UInt32(index), reserve: reserve)
            build(&writer, index)
            bytes.append(contentsOf: writer.finished())
        }
        do {
            try await channel.write(bytes)
        } catch {
            state.withLock { state in
                for index in 0..<count { state.pending.removeValue(forKey: firstID &+ UInt32(index)) }
            }
            throw error
        }
        return slots
    }

    /// Sends a request and waits for its answer.
    func request(_ type: SFTP.PacketType, _ build: (inout SFTPWriter) -> Void) async throws -> Reply {
        try await send(type, build).value
    }

    /// Checks a STATUS answer, throwing unless it is OK.
    func expectOK(_ reply: Reply, _ what: String, path: String) throws {
        guard reply.type == .status else {
            throw error(.protocolError, "\(what) \(path): unexpected answer \(reply.type)")
        }
        var reader = reply.reader
        let code = try reader.readUInt32()
        if code == SFTP.StatusCode.ok.rawValue { return }
        throw statusError(code, message: (try? reader.readString()) ?? "", what: what, path: path)
    }

    /// The error for a non-OK status.
    func statusError(_ code: UInt32, message: String, what: String, path: String) -> SSHError {
        let kind: SSHError.Code =
            switch SFTP.StatusCode(rawValue: code) {
            case .noSuchFile: .noSuchFile
            case .permissionDenied: .permissionDenied
            case .noConnection, .connectionLost: .connectionLost
            case .unsupported: .unsupported
            default: .fileTransferFailed
            }
        let reason = message.isEmpty ? "status \(code)" : TerminalText.sanitized(message, keepingLineBreaks: false)
        return SSHError(
            kind, host: host, port: port, message: "\(what) remote \(path) failed: \(reason)",
            nativeCode: Int32(bitPattern: code), nativeMessage: message)
    }

    func error(_ code: SSHError.Code, _ message: String) -> SSHError {
        SSHError(code, host: host, port: port, message: message)
    }

    // MARK: Operations

    /// `remotePath` as the server should be asked for it (see ``RemotePath``): `~` and `~/…` relative to the home
    /// directory, `~user[/…]` expanded by the server through ``expandPathExtension``, as OpenSSH's `scp` does.
    /// - Throws: `unsupported` for a `~user` path when the server lacks the extension.
    func resolved(_ remotePath: String) async throws -> String {
        if case .plain(let path) = RemotePath.meaning(of: remotePath) { return path }
        guard state.withLock({ $0.extensions.contains(Self.expandPathExtension) }) else {
            throw error(
                .unsupported,
                "remote \(remotePath): the SFTP server cannot expand a ~user path (it lacks OpenSSH's "
                    + "\(Self.expandPathExtension)); give the path in full")
        }
        let reply = try await request(.extended) {
            $0.write(Self.expandPathExtension)
            $0.write(remotePath)
        }
        guard reply.type == .name else {
            try expectOK(reply, "expanding", path: remotePath)
            throw error(.protocolError, "expanding \(remotePath): the server sent no name")
        }
        var reader = reply.reader
        guard let expanded = try reader.readNames().first, !expanded.isEmpty else {
            throw error(.protocolError, "expanding \(remotePath): the server sent no name")
        }
        return expanded
    }

    /// Opens a remote file; returns its handle.
    func open(
        _ path: String, flags: SFTP.OpenFlags, attributes: SSHFileAttributes = SSHFileAttributes(),
        what: String
    ) async throws -> [UInt8] {
        let reply = try await request(.open) {
            $0.write(path)
            $0.write(flags.rawValue)
            $0.write(attributes)
        }
        return try handle(from: reply, what: what, path: path)
    }

    private func handle(from reply: Reply, what: String, path: String) throws -> [UInt8] {
        if reply.type == .handle {
            var reader = reply.reader
            return Array(try reader.readBytes())
        }
        try expectOK(reply, what, path: path)
        throw error(.protocolError, "\(what) \(path): the server sent no handle")
    }

    /// Closes a handle.
    func close(handle: [UInt8], path: String) async throws {
        try expectOK(try await request(.close) { $0.write(bytes: handle) }, "closing", path: path)
    }

    /// The attributes of a remote path (`nil` when it does not exist), a symbolic link followed.
    package func attributes(of remotePath: String) async throws -> SSHFileAttributes? {
        try await attributes(of: try await resolved(remotePath), followingLinks: true)
    }

    /// The attributes of a remote path, `LSTAT` when `followingLinks` is false.
    package func attributes(of remotePath: String, followingLinks: Bool) async throws -> SSHFileAttributes? {
        let reply = try await request(followingLinks ? .stat : .lstat) { $0.write(remotePath) }
        if reply.type == .attrs {
            var reader = reply.reader
            return try reader.readAttributes()
        }
        do {
            try expectOK(reply, "reading the attributes of", path: remotePath)
        } catch let failure as SSHError where failure.code == .noSuchFile {
            return nil
        }
        throw error(.protocolError, "stat \(remotePath): the server sent no attributes")
    }

    /// Sets the permission bits of a remote path.
    func setMode(_ mode: UInt32, of remotePath: String) async throws {
        let reply = try await request(.setstat) {
            $0.write(remotePath)
            $0.write(SSHFileAttributes(mode: mode))
        }
        try expectOK(reply, "setting the mode of", path: remotePath)
    }

    package func makeDirectory(_ remotePath: String, mode: UInt32) async throws {
        let remotePath = try await resolved(remotePath)
        let reply = try await request(.mkdir) {
            $0.write(remotePath)
            $0.write(SSHFileAttributes(mode: mode))
        }
        try expectOK(reply, "creating directory", path: remotePath)
    }

    /// The most entries one remote directory listing may hold.
    package static let maximumDirectoryEntries = 1_000_000
    /// The most bytes of names one remote directory listing may hold (64 MiB).
    package static let maximumDirectoryNameBytes = 64 << 20

    /// The names in a remote directory, without `.` and `..`, sorted.
    /// - Throws: `fileTransferFailed` when the listing passes ``maximumDirectoryEntries`` entries or
    ///   ``maximumDirectoryNameBytes`` bytes of names (a server that lists without end cannot exhaust memory).
    package func listDirectory(_ remotePath: String) async throws -> [String] {
        let remotePath = try await resolved(remotePath)
        let handle = try handle(
            from: try await request(.opendir) { $0.write(remotePath) },
            what: "listing directory", path: remotePath)
        var names: [String] = []
        var nameBytes = 0
        while true {
            let reply = try await request(.readdir) { $0.write(bytes: handle) }
            if reply.type == .status {
                var reader = reply.reader
                if try reader.readUInt32() == SFTP.StatusCode.eof.rawValue { break }
                try expectOK(reply, "listing directory", path: remotePath)
                break
            }
            guard reply.type == .name else { throw error(.protocolError, "readdir \(remotePath): unexpected answer") }
            var reader = reply.reader
            let batch = try reader.readNames().filter { $0 != "." && $0 != ".." }
            names += batch
            nameBytes += batch.reduce(0) { $0 + $1.utf8.count }
            if names.count > Self.maximumDirectoryEntries || nameBytes > Self.maximumDirectoryNameBytes {
                try? await close(handle: handle, path: remotePath)
                throw error(
                    .fileTransferFailed,
                    "remote directory \(remotePath) lists more than "
                        + "\(Self.maximumDirectoryEntries) entries or \(Self.maximumDirectoryNameBytes >> 20) MiB of names: "
                        + "the listing was stopped there")
            }
        }
        try await close(handle: handle, path: remotePath)
        return names.sorted()
    }

    /// Renames a remote path (the target must not exist, in SFTP version 3).
    func rename(_ from: String, to: String) async throws {
        let reply = try await request(.rename) {
            $0.write(from)
            $0.write(to)
        }
        try expectOK(reply, "renaming", path: from)
    }

    /// Removes a remote file.
    func remove(_ path: String) async throws {
        try expectOK(try await request(.remove) { $0.write(path) }, "removing", path: path)
    }

    package func close() async {
        failAll(error(.sessionClosed, "the SFTP session was closed"))
        await channel.close()
    }
}

/// Accumulates received bytes and cuts them into SFTP packets (length prefix removed).
package struct PacketBuffer: Sendable {
    private var bytes: [UInt8] = []
    private var head = 0
    /// The largest packet accepted (a READ answer of 256 KiB plus headers, with room to spare).
    private static let maximum = 1 << 20

    package init() {}

    package mutating func append(_ chunk: [UInt8]) {
        if head > 0 && head >= bytes.count / 2 {
            bytes.removeSubrange(0..<head)
            head = 0
        }
        bytes.append(contentsOf: chunk)
    }

    package mutating func next() throws(SSHError) -> [UInt8]? {
        guard bytes.count - head >= 4 else { return nil }
        let length =
            Int(bytes[head]) << 24 | Int(bytes[head + 1]) << 16 | Int(bytes[head + 2]) << 8 | Int(bytes[head + 3])
        guard length > 0 && length <= Self.maximum else {
            throw SSHError(.protocolError, message: "the SFTP server sent a packet of \(length) bytes")
        }
        guard bytes.count - head >= 4 + length else { return nil }
        let packet = Array(bytes[(head + 4)..<(head + 4 + length)])
        head += 4 + length
        return packet
    }
}
