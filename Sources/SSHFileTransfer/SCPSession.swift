import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// SCP (the `scp -t` / `scp -f` protocol of OpenSSH's remote side) over exec channels of any engine: files and
/// whole directory trees, streamed in constant memory, with permission bits.
package struct SCPSession: SSHSCPClient {
    private let session: any SSHSession
    private var host: String { session.options.host }
    private var port: Int { session.options.port }

    /// SCP on `session`.
    package init(session: any SSHSession) { self.session = session }

    // MARK: Sending

    package func send(
        from localPath: String, to remotePath: String, mode: UInt32?,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        try await sink(try prepared(remotePath), recursive: false) { channel, reader in
            try await sendFile(
                localPath, name: PathName.baseName(localPath), mode: mode, channel: channel,
                reader: &reader, progress: progress)
        }
    }

    package func sendDirectory(
        from localPath: String, to remotePath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        try await sink(try prepared(remotePath), recursive: true) { channel, reader in
            try await sendTree(
                localPath, name: PathName.baseName(localPath), channel: channel, reader: &reader,
                progress: progress)
        }
    }

    package func existingTarget(_ remotePath: String, sending localPath: String) async throws -> String? {
        let remotePath = try prepared(remotePath)
        let inside = PathName.joined(remotePath, PathName.baseName(localPath))
        let (target, quotedInside) = (Self.shellWord(remotePath), Self.shellWord(inside))
        let channel = try await session.exec(
            Self.userHomeGuard(remotePath)
                + "if test -d \(target); then test -e \(quotedInside) && echo inside; else test -e \(target) && echo target; fi"
        )
        let answer = String(decoding: try await channel.stdout.collect(upTo: 64), as: UTF8.self)
        _ = try await channel.exitStatus()
        if answer.hasPrefix("inside") { return inside }
        return answer.hasPrefix("target") ? remotePath : nil
    }

    /// Runs `scp -t` at `remotePath` (creating its missing parent directories first, as parallel-ssh does) and
    /// hands the channel to `body`, then finishes the exchange.
    private func sink(
        _ remotePath: String, recursive: Bool,
        _ body: (any SSHChannel, inout ChannelReader) async throws -> Void
    ) async throws {
        let parent = PathName.parent(of: remotePath)
        let makeParent = parent.isEmpty || parent == "/" ? "" : "mkdir -p -- \(Self.shellWord(parent)) && "
        let channel = try await session.exec(
            "\(Self.userHomeGuard(remotePath))\(makeParent)scp \(recursive ? "-r " : "")-t \(Self.shellWord(remotePath))"
        )
        var reader = ChannelReader(channel.stdout)
        do {
            try await expectAck(&reader, channel: channel, path: remotePath)
            try await body(channel, &reader)
            try await channel.sendEOF()
            _ = try await channel.stdout.collect(upTo: 0)
            let status = try await channel.exitStatus()
            if status.code != 0 {
                throw error(.fileTransferFailed, "scp to \(remotePath) ended with \(status)")
            }
        } catch {
            await channel.close()
            throw error
        }
    }

    private func sendFile(
        _ localPath: String, name: String, mode: UInt32?, channel: any SSHChannel,
        reader: inout ChannelReader, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        try checkRecordName(name, localPath: localPath)
        let file = try await LocalFile.openForReading(localPath, host: host, port: port)
        let (size, localMode) = file.attributes()
        let header = "C\(Self.octal(mode ?? localMode)) \(size) \(name)\n"
        try await channel.write(Array(header.utf8))
        try await expectAck(&reader, channel: channel, path: name)
        var sent: UInt64 = 0
        progress?(SSHTransferProgress(bytesDone: 0, bytesTotal: size))
        while sent < size {
            let block = try await file.read(upTo: Int(min(UInt64(LocalFile.blockSize), size - sent)))
            if block.isEmpty {
                throw error(.fileTransferFailed, "local file \(localPath) shrank while being sent")
            }
            try await channel.write(block)
            sent += UInt64(block.count)
            progress?(SSHTransferProgress(bytesDone: sent, bytesTotal: size))
        }
        try await channel.write([0])
        try await expectAck(&reader, channel: channel, path: name)
    }

    /// SCP records end at a newline: a name holding one would end its record early and the rest would be read
    /// as the next record, so it is refused before anything is sent.
    private func checkRecordName(_ name: String, localPath: String) throws(SSHError) {
        guard name.utf8.contains(UInt8(ascii: "\n")) else { return }
        throw error(
            .invalidArgument,
            "local \(TerminalText.sanitized(localPath, keepingLineBreaks: false)): SCP cannot "
                + "send a file name containing a newline (its records end at one); copy it over SFTP")
    }

    /// Sends a file or a local directory tree (see ``LocalFile/treeEntries(of:ancestors:host:port:)`` for what a
    /// tree takes); `ancestors` are the directories above `localPath` in this copy, `known` its attributes when the
    /// listing above already read them.
    private func sendTree(
        _ localPath: String, name: String, ancestors: Set<LocalFile.Identity> = [], known: LocalFile.Attributes? = nil,
        channel: any SSHChannel, reader: inout ChannelReader, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        var found = known
        if found == nil { found = try await LocalFile.attributes(of: localPath) }
        guard let attributes = found else {
            throw LocalFile.error(ENOENT, path: localPath, host: host, port: port)
        }
        guard attributes.isDirectory else {
            return try await sendFile(
                localPath, name: name, mode: nil, channel: channel, reader: &reader,
                progress: progress)
        }
        try checkRecordName(name, localPath: localPath)
        try await channel.write(Array("D\(Self.octal(attributes.mode)) 0 \(name)\n".utf8))
        try await expectAck(&reader, channel: channel, path: name)
        let inside = ancestors.union([attributes.identity])
        for entry in try await LocalFile.treeEntries(of: localPath, ancestors: inside, host: host, port: port) {
            try await sendTree(
                entry.path, name: entry.name, ancestors: inside, known: entry.attributes, channel: channel,
                reader: &reader, progress: progress)
        }
        try await channel.write(Array("E\n".utf8))
        try await expectAck(&reader, channel: channel, path: name)
    }

    /// Reads the remote side's answer: 0 is OK, 1 a warning and 2 an error, each followed by a message line.
    private func expectAck(_ reader: inout ChannelReader, channel: any SSHChannel, path: String) async throws {
        guard let code = try await reader.readByte() else {
            let said = try await saidOn(channel)
            throw error(Self.code(for: said), "scp on the remote side ended early for \(path)" + said)
        }
        if code == 0 { return }
        let message = try await controlLine(&reader, path: path)
        throw Self.classify(message, host: host, port: port, path: path)
    }

    // MARK: Receiving

    package func receive(
        from remotePath: String, to localPath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        let remotePath = try prepared(remotePath)
        let localPath = try await LocalFile.destination(localPath, for: remotePath, host: host, port: port)
        try await receive(remotePath, into: localPath, recursive: false, progress: progress)
    }

    package func receiveDirectory(
        from remotePath: String, to localPath: String,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        let remotePath = try prepared(remotePath)
        let top = try await LocalFile.destination(localPath, for: remotePath, host: host, port: port)
        try await receive(remotePath, into: top, recursive: true, progress: progress)
    }

    /// Runs `scp -f` and follows what it sends with ``SCPReceiveState`` until the file, or the tree, is complete.
    private func receive(
        _ remotePath: String, into top: String, recursive: Bool,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        try await source(remotePath, recursive: recursive) { channel, reader in
            var state = SCPReceiveState(top: top, recursive: recursive)
            while !state.isComplete {
                guard let kind = try await reader.readByte() else {
                    let said = try await saidOn(channel)
                    throw error(Self.code(for: said), "scp sent nothing for \(remotePath)" + said)
                }
                let line = try await controlLine(&reader, path: remotePath)
                let step: SCPReceiveState.Step
                do throws(SCPReceiveState.Violation) { step = try state.consume(kind: kind, line: line) } catch {
                    throw failure(error, remotePath: remotePath)
                }
                switch step {
                case .acknowledge:
                    try await channel.write([0])
                case .file(let path, let mode, let size):
                    try await receiveFile(
                        path, mode: mode, size: size, channel: channel, reader: &reader, progress: progress)
                case .directory(let path, let mode):
                    try await LocalFile.makeDirectory(path, mode: mode, host: host, port: port)
                    try await channel.write([0])
                case .endDirectory:
                    try await channel.write([0])
                }
            }
        }
    }

    /// The longest control line accepted (OpenSSH's scp reads them into 2 KiB): a server sending an endless line
    /// cannot make us buffer without bound.
    static let lineLimit = 64 * 1024

    /// The rest of a control line (or message) from scp, at most ``lineLimit`` bytes.
    private func controlLine(_ reader: inout ChannelReader, path: String) async throws -> String {
        do { return try await reader.readLine(limit: Self.lineLimit) ?? "" } catch is ChannelReader.LineTooLong {
            throw error(.protocolError, "scp sent a line longer than \(Self.lineLimit) bytes for \(path)")
        }
    }

    /// The error for a broken protocol, naming the remote path.
    private func failure(_ violation: SCPReceiveState.Violation, remotePath: String) -> SSHError {
        switch violation {
        case .malformedHeader(let line): error(.protocolError, "scp sent a malformed header for \(remotePath): \(line)")
        case .unexpectedRecord(let kind):
            error(.protocolError, "scp sent an unexpected record (\(kind)) for \(remotePath)")
        case .unsafeName(let name): error(.protocolError, "scp sent an unsafe name \"\(name)\" inside \(remotePath)")
        case .unmatchedEnd: error(.protocolError, "scp ended a directory it never began, in \(remotePath)")
        case .directoryNotAsked: error(.invalidArgument, "remote \(remotePath) is a directory (copy it recursively)")
        case .afterEnd: error(.protocolError, "scp sent more after \(remotePath) was complete")
        case .remoteError(let message): Self.classify(message, host: host, port: port, path: remotePath)
        }
    }

    /// Runs `scp -f` on `remotePath`, signals readiness, and hands the channel to `body`.
    private func source(
        _ remotePath: String, recursive: Bool,
        _ body: (any SSHChannel, inout ChannelReader) async throws -> Void
    ) async throws {
        // The file streams towards us: a window from the process's budget, as an SFTP download's, to fill long
        // round trips; held until the copy ends.
        let window = ReceiveWindowBudget.shared.reserve()
        defer { withExtendedLifetime(window) {} }
        let channel = try await session.openChannel(
            SSHChannelRequest(
                kind: .exec(
                    "\(Self.userHomeGuard(remotePath))scp \(recursive ? "-r " : "")-f \(Self.shellWord(remotePath))"),
                receiveWindow: window.bytes))
        var reader = ChannelReader(channel.stdout)
        do {
            do {
                try await channel.write([0])
            } catch let failure as SSHError where failure.code == .sessionClosed {
                // The remote side ended before reading it (the ~user guard, no scp there): what it said is why.
                let said = try await saidOn(channel)
                throw error(Self.code(for: said), "scp on the remote side ended early for \(remotePath)" + said)
            }
            try await body(channel, &reader)
            try await channel.sendEOF()
            _ = try await channel.stdout.collect(upTo: 0)
            _ = try await channel.exitStatus()
        } catch {
            await channel.close()
            throw error
        }
    }

    private func receiveFile(
        _ localPath: String, mode: UInt32, size: UInt64, channel: any SSHChannel,
        reader: inout ChannelReader, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws {
        let temporary = PathName.temporaryName(for: localPath)
        let file = try await LocalFile.create(temporary, mode: mode, host: host, port: port)
        do {
            try await channel.write([0])
            var received: UInt64 = 0
            var block: [UInt8] = []
            block.reserveCapacity(LocalFile.blockSize)
            progress?(SSHTransferProgress(bytesDone: 0, bytesTotal: size))
            while received < size {
                let piece = try await reader.read(
                    upTo: Int(min(UInt64(LocalFile.blockSize - block.count), size - received)))
                if piece.isEmpty { throw error(.connectionLost, "scp ended in the middle of \(localPath)") }
                block.append(contentsOf: piece)
                received += UInt64(piece.count)
                if block.count >= LocalFile.blockSize || received == size {
                    try await file.write(block)
                    block.removeAll(keepingCapacity: true)
                    progress?(SSHTransferProgress(bytesDone: received, bytesTotal: size))
                }
            }
            guard try await reader.readByte() == 0 else {
                throw error(.fileTransferFailed, "scp reported an error after sending \(localPath)")
            }
            try await channel.write([0])
            try await LocalFile.rename(temporary, to: localPath, host: host, port: port)
        } catch {
            await LocalFile.remove(temporary)
            throw error
        }
    }

    // MARK: Helpers

    /// What the remote side wrote on standard error, as `": message"` (its first line, at most ``lineLimit``
    /// bytes, made safe for a terminal), or `""` when it wrote nothing.
    private func saidOn(_ channel: any SSHChannel) async throws -> String {
        let said = String(decoding: try await channel.stderr.collect(upTo: Self.lineLimit), as: UTF8.self)
        let line = said.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.isEmpty ? "" : ": " + TerminalText.sanitized(line, keepingLineBreaks: false)
    }

    private func error(_ code: SSHError.Code, _ message: String) -> SSHError {
        SSHError(code, host: host, port: port, message: message)
    }

    /// An error from an scp message such as `scp: /x: No such file or directory`.
    private static func classify(_ raw: String, host: String, port: Int, path: String) -> SSHError {
        let message = TerminalText.sanitized(raw, keepingLineBreaks: false)
        return SSHError(
            code(for: message), host: host, port: port, message: "remote \(path): \(message)", nativeMessage: message)
    }

    /// The error code for what scp (or the shell before it) said.
    private static func code(for message: String) -> SSHError.Code {
        if message.contains("No such file") || message.contains("no such user") {
            .noSuchFile
        } else if message.contains("Permission denied") {
            .permissionDenied
        } else if message.contains("No space left") || message.contains("quota exceeded") {
            .noSpace
        } else if message.contains("not a regular file") || message.contains("Is a directory") {
            .invalidArgument
        } else {
            .fileTransferFailed
        }
    }

    /// `remotePath` as scp's remote side should be given it (see ``RemotePath``): `~` and `~/…` relative to the
    /// home directory, where scp starts; `~user[/…]` kept for the remote shell to expand (``shellWord(_:)``).
    /// - Throws: `invalidArgument` when what follows `~` is not a user name the shell may be given unquoted.
    private func prepared(_ remotePath: String) throws(SSHError) -> String {
        switch RemotePath.meaning(of: remotePath) {
        case .plain(let path): return path
        case .home(let user, let rest):
            guard RemotePath.isShellSafeUser(user) else {
                throw error(
                    .invalidArgument,
                    "remote \(TerminalText.sanitized(remotePath, keepingLineBreaks: false)): "
                        + "\"~\(TerminalText.sanitized(user, keepingLineBreaks: false))\" does not name a user")
            }
            return rest.isEmpty ? "~" + user : "~\(user)/\(rest)"
        }
    }

    /// `path` as one word of a remote shell command: quoted, except a leading `~user` made of a user name's
    /// characters only (``RemotePath/isShellSafeUser(_:)``), left for the shell to expand to that home directory.
    static func shellWord(_ path: String) -> String {
        let user = path.dropFirst().prefix { $0 != "/" }
        guard path.hasPrefix("~"), RemotePath.isShellSafeUser(String(user)) else { return quote(path) }
        let rest = path.dropFirst(1 + user.count).dropFirst()
        return rest.isEmpty ? "~" + user : "~\(user)/\(quote(String(rest)))"
    }

    /// A shell guard that ends the command with a message when the leading `~user` of a ``shellWord(_:)`` names
    /// no account (the shell would leave it as written, and a copy would create a directory of that name); empty
    /// for every other path.
    static func userHomeGuard(_ path: String) -> String {
        let user = path.dropFirst().prefix { $0 != "/" }
        guard path.hasPrefix("~"), RemotePath.isShellSafeUser(String(user)) else { return "" }
        return "test ~\(user) != \(quote("~" + user)) || { echo \(quote("~\(user): no such user")) >&2; exit 1; }; "
    }

    static func quote(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// A `C` (file) or `D` (directory) header of the SCP source protocol.
enum SCPRecord: Equatable {
    /// `C<mode> <size> <name>`: a file follows.
    case file(mode: UInt32, size: UInt64, name: String)
    /// `D<mode> 0 <name>`: a directory begins.
    case directory(mode: UInt32, name: String)

    /// Parses a `C` or `D` header (`kind` is its first byte, `line` the rest without the newline); nil when it is
    /// malformed. The name is returned as sent: whether it may be used is the receiver's decision.
    init?(header kind: UInt8, _ line: String) {
        let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 3, !fields[2].isEmpty, fields[0].count <= 4, let mode = UInt32(fields[0], radix: 8),
            let size = UInt64(fields[1])
        else { return nil }
        switch kind {
        case UInt8(ascii: "C"): self = .file(mode: mode, size: size, name: fields[2])
        case UInt8(ascii: "D"): self = .directory(mode: mode, name: fields[2])
        default: return nil
        }
    }
}
