import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

extension SFTPSession {
    /// Uploads a local file, pipelining up to ``requestsInFlight`` writes of ``chunkSize`` bytes. The remote file
    /// is created or replaced (missing parent directories too), and ends with the local file's permission bits. When `remotePath` is an existing
    /// directory, the file goes inside it under its own name (as with `scp` and `sftp put`).
    package func upload(
        from localPath: String, to remotePath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        try await uploadFile(
            from: localPath, to: try await remoteDestination(try await resolved(remotePath), for: localPath),
            progress: progress)
    }

    /// Downloads a remote file into `localPath`, or inside it under the file's own name when it is an existing
    /// directory (see ``downloadFile(from:to:known:progress:)``).
    package func download(
        from remotePath: String, to localPath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        let remotePath = try await resolved(remotePath)
        try await downloadFile(
            from: remotePath, to: try await LocalFile.destination(localPath, for: remotePath, host: host, port: port),
            progress: progress)
    }

    /// Uploads a local tree as `remotePath` (created, with missing parents), or inside it under its own name when
    /// it is an existing directory.
    package func uploadDirectory(
        from localPath: String, to remotePath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        try await uploadTree(
            from: localPath, to: try await remoteDestination(try await resolved(remotePath), for: localPath),
            progress: progress)
    }

    /// Downloads a remote tree as `localPath` (created), or inside it under its own name when it is an existing
    /// directory.
    package func downloadDirectory(
        from remotePath: String, to localPath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        let remotePath = try await resolved(remotePath)
        try await downloadTree(
            from: remotePath, to: try await LocalFile.destination(localPath, for: remotePath, host: host, port: port),
            progress: progress)
    }

    /// `remotePath`, or `localPath`'s name inside it when it is an existing directory.
    private func remoteDestination(_ remotePath: String, for localPath: String) async throws -> String {
        guard let existing = try await attributes(of: remotePath), existing.isDirectory else { return remotePath }
        return PathName.joined(remotePath, PathName.baseName(localPath))
    }

    private func uploadFile(
        from localPath: String, to remotePath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        let file = try await LocalFile.openForReading(localPath, host: host, port: port)
        let (size, mode) = file.attributes()
        let handle: [UInt8]
        do {
            handle = try await open(
                remotePath, flags: [.write, .create, .truncate],
                attributes: SSHFileAttributes(mode: mode), what: "creating")
        } catch let error as SSHError where error.code == .noSuchFile {
            // A missing parent directory is created, with its own missing parents, as parallel-ssh does.
            let parent = PathName.parent(of: remotePath)
            guard !parent.isEmpty, parent != "/", try await attributes(of: parent) == nil else { throw error }
            try await makeDirectories(parent)
            handle = try await open(
                remotePath, flags: [.write, .create, .truncate],
                attributes: SSHFileAttributes(mode: mode), what: "creating")
        }
        var offset: UInt64 = 0
        var inFlight: [(slot: Slot, count: Int)] = []
        var acknowledged: UInt64 = 0
        progress?(SSHTransferProgress(bytesDone: 0, bytesTotal: size))
        func settleOldest() async throws {
            let (slot, count) = inFlight.removeFirst()
            try expectOK(try await slot.value, "writing", path: remotePath)
            acknowledged += UInt64(count)
            progress?(SSHTransferProgress(bytesDone: acknowledged, bytesTotal: size))
        }
        do {
            while true {
                let block = try await file.read(upTo: Self.chunkSize * 8)
                if block.isEmpty { break }
                // The block's WRITE requests go out in one channel write (one trip to the event loop).
                let starts = Array(stride(from: 0, to: block.count, by: Self.chunkSize))
                let base = offset
                let slots = try await sendBatch(.write, count: starts.count, reserve: Self.chunkSize + 32) {
                    writer, index in
                    let start = starts[index]
                    writer.write(bytes: handle)
                    writer.write(base + UInt64(start))
                    writer.write(bytes: block[start..<min(start + Self.chunkSize, block.count)])
                }
                for (slot, start) in zip(slots, starts) {
                    inFlight.append((slot, min(start + Self.chunkSize, block.count) - start))
                }
                offset += UInt64(block.count)
                while inFlight.count > uploadRequestsInFlight - starts.count { try await settleOldest() }
            }
            while !inFlight.isEmpty { try await settleOldest() }
        } catch {
            try? await close(handle: handle, path: remotePath)
            throw error
        }
        try await close(handle: handle, path: remotePath)
        try await setMode(mode, of: remotePath)  // an existing file keeps its old mode through OPEN
    }

    /// Downloads a remote file into `localPath`: written under a temporary name beside it and renamed when
    /// complete, so a failed download never leaves a truncated file under the final name.
    /// `known` is the remote file's attributes when the caller already asked for them (one round trip less).
    private func downloadFile(
        from remotePath: String, to localPath: String, known: SSHFileAttributes? = nil,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        var attributes = known
        if attributes == nil { attributes = try await self.attributes(of: remotePath) }
        guard let attributes else {
            throw error(.noSuchFile, "remote file \(remotePath) does not exist")
        }
        if attributes.isDirectory {
            throw error(.invalidArgument, "remote \(remotePath) is a directory (copy it recursively)")
        }
        let handle = try await open(remotePath, flags: [.read], what: "opening")
        let temporary = PathName.temporaryName(for: localPath)
        let mode = attributes.mode ?? 0o644
        let file: LocalFile
        do {
            file = try await LocalFile.create(temporary, mode: mode, host: host, port: port)
        } catch {
            try? await close(handle: handle, path: remotePath)
            throw error
        }
        do {
            try await receive(
                handle: handle, remotePath: remotePath, size: attributes.size, into: file,
                progress: progress)
            try await close(handle: handle, path: remotePath)
            try await LocalFile.rename(temporary, to: localPath, host: host, port: port)
        } catch {
            try? await close(handle: handle, path: remotePath)
            await LocalFile.remove(temporary)
            throw error
        }
    }

    /// Reads the whole file through pipelined READs, in order, writing it out in blocks.
    private func receive(
        handle: [UInt8], remotePath: String, size: UInt64?, into file: LocalFile,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        var queue: [(slot: Slot, offset: UInt64, count: Int)] = []
        var nextOffset: UInt64 = 0
        var done: UInt64 = 0
        var reachedEnd = false
        var pendingWrite: [UInt8] = []
        pendingWrite.reserveCapacity(LocalFile.blockSize)
        progress?(SSHTransferProgress(bytesDone: 0, bytesTotal: size))
        func request(_ offset: UInt64, _ count: Int) async throws -> Slot {
            try await send(.read) { writer in
                writer.write(bytes: handle)
                writer.write(offset)
                writer.write(UInt32(count))
            }
        }
        // The pipeline starts at requestsInFlight and grows by one request per answer up to the maximum, as TCP's
        // slow start does: a long round trip gets the depth it needs, a short one loses nothing.
        var depth = Self.requestsInFlight
        func fill() async throws {
            // Kept full, topped up every `refillBatch` answers in one channel write: fewer trips to the event loop,
            // and never the half-empty pipeline that a refill at half depth leaves on a long round trip.
            guard !reachedEnd && queue.count <= depth - Self.refillBatch else { return }
            var offsets: [UInt64] = []
            while queue.count + offsets.count < depth && (size.map { nextOffset < max($0, 1) } ?? true) {
                offsets.append(nextOffset)
                nextOffset += UInt64(Self.chunkSize)
            }
            let slots = try await sendBatch(.read, count: offsets.count) { writer, index in
                writer.write(bytes: handle)
                writer.write(offsets[index])
                writer.write(UInt32(Self.chunkSize))
            }
            for (slot, offset) in zip(slots, offsets) { queue.append((slot, offset, Self.chunkSize)) }
        }
        try await fill()
        while !queue.isEmpty {
            let (slot, offset, count) = queue.removeFirst()
            let reply = try await slot.value
            switch reply.type {
            case .data:
                var reader = reply.reader
                let data = try reader.readBytes()
                pendingWrite.append(contentsOf: data)
                done += UInt64(data.count)
                if depth < maximumRequestsInFlight { depth += 1 }
                if data.count < count && !data.isEmpty {
                    // A short read: ask for the rest of this range next, before later ranges.
                    let rest = offset + UInt64(data.count)
                    queue.insert((try await request(rest, count - data.count), rest, count - data.count), at: 0)
                }
                if pendingWrite.count >= LocalFile.blockSize {
                    try await file.write(pendingWrite)
                    pendingWrite.removeAll(keepingCapacity: true)
                }
                progress?(SSHTransferProgress(bytesDone: done, bytesTotal: size))
            case .status:
                var reader = reply.reader
                let code = try reader.readUInt32()
                guard code == SFTP.StatusCode.eof.rawValue else {
                    throw statusError(
                        code, message: (try? reader.readString()) ?? "", what: "reading", path: remotePath)
                }
                reachedEnd = true
            default:
                throw error(.protocolError, "reading \(remotePath): unexpected answer \(reply.type)")
            }
            if !reachedEnd { try await fill() }
        }
        if !pendingWrite.isEmpty { try await file.write(pendingWrite) }
    }
}

extension SFTPSession {
    /// Uploads a file or a local directory tree (see ``LocalFile/treeEntries(of:ancestors:host:port:)`` for what
    /// a tree takes); `ancestors` are the directories above `localPath` in this copy, `known` its attributes when
    /// the listing above already read them.
    private func uploadTree(
        from localPath: String, to remotePath: String, ancestors: Set<LocalFile.Identity> = [],
        known: LocalFile.Attributes? = nil, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        var found = known
        if found == nil { found = try await LocalFile.attributes(of: localPath) }
        guard let local = found else {
            throw LocalFile.error(ENOENT, path: localPath, host: host, port: port)
        }
        guard local.isDirectory else {
            return try await uploadFile(from: localPath, to: remotePath, progress: progress)
        }
        try await makeDirectories(remotePath, mode: local.mode)
        let inside = ancestors.union([local.identity])
        for entry in try await LocalFile.treeEntries(of: localPath, ancestors: inside, host: host, port: port) {
            try await uploadTree(
                from: entry.path, to: PathName.joined(remotePath, entry.name), ancestors: inside,
                known: entry.attributes, progress: progress)
        }
        try await setMode(local.mode, of: remotePath)
    }

    /// Creates `remotePath` and any missing parents (an existing directory is fine).
    package func makeDirectories(_ remotePath: String, mode: UInt32 = 0o755) async throws {
        if let existing = try await attributes(of: remotePath) {
            if existing.isDirectory { return }
            throw error(.fileTransferFailed, "remote \(remotePath) exists and is not a directory")
        }
        let parent = PathName.parent(of: remotePath)
        if !parent.isEmpty && parent != remotePath { try await makeDirectories(parent) }
        do {
            try await makeDirectory(remotePath, mode: mode)
        } catch {
            // Someone else (another entry for the same host) may have made it meanwhile: that is success too.
            guard try await attributes(of: remotePath)?.isDirectory == true else { throw error }
        }
    }

    /// Downloads a file or a directory tree. The path given is followed if it is a link; inside the tree, as
    /// `sftp -r` does, symbolic links and anything but regular files and directories are skipped (never followed:
    /// `loop -> .` or a link to `/` cannot make the copy endless).
    private func downloadTree(
        from remotePath: String, to localPath: String, known: SSHFileAttributes? = nil,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        var remote = known
        if remote == nil { remote = try await attributes(of: remotePath) }
        guard let remote else {
            throw error(.noSuchFile, "remote \(remotePath) does not exist")
        }
        guard remote.isDirectory else {
            return try await downloadFile(from: remotePath, to: localPath, known: remote, progress: progress)
        }
        try await LocalFile.makeDirectory(localPath, mode: remote.mode ?? 0o755, host: host, port: port)
        for entry in try await listDirectory(remotePath) {
            guard PathName.isPlainEntry(entry) else {
                throw error(
                    .protocolError,
                    "the server listed an unsafe name "
                        + "\"\(TerminalText.sanitized(entry, keepingLineBreaks: false))\" in \(remotePath)")
            }
            let path = PathName.joined(remotePath, entry)
            guard let attributes = try await attributes(of: path, followingLinks: false),
                attributes.isDirectory || (attributes.isRegularFile && !attributes.isSymbolicLink)
            else { continue }
            try await downloadTree(
                from: path, to: PathName.joined(localPath, entry), known: attributes,
                progress: progress)
        }
    }
}
