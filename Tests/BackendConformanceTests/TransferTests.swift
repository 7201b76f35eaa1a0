import Foundation
import SSHBackend
import SSHFileTransfer
import SSHTestSupport
import Testing

/// SFTP or SCP, behind one shape, so every transfer test runs for both protocols on both engines.
struct TransferProtocol: Sendable, CustomTestStringConvertible {
    let name: String
    var testDescription: String { name }

    static let all = [TransferProtocol(name: "sftp"), TransferProtocol(name: "scp")]

    func upload(_ session: any SSHSession, _ local: String, _ remote: String, recursive: Bool = false) async throws {
        if name == "sftp" {
            let sftp = try await session.openSFTP()
            defer { Task { await sftp.close() } }
            if recursive {
                try await sftp.uploadDirectory(from: local, to: remote, progress: nil)
            } else {
                try await sftp.upload(from: local, to: remote, progress: nil)
            }
        } else {
            let scp = try await session.scp()
            if recursive {
                try await scp.sendDirectory(from: local, to: remote, progress: nil)
            } else {
                let mode =
                    ((try? FileManager.default.attributesOfItem(atPath: local))?[.posixPermissions] as? Int) ?? 0o644
                try await scp.send(from: local, to: remote, mode: UInt32(mode), progress: nil)
            }
        }
    }

    func download(_ session: any SSHSession, _ remote: String, _ local: String, recursive: Bool = false) async throws {
        if name == "sftp" {
            let sftp = try await session.openSFTP()
            defer { Task { await sftp.close() } }
            if recursive {
                try await sftp.downloadDirectory(from: remote, to: local, progress: nil)
            } else {
                try await sftp.download(from: remote, to: local, progress: nil)
            }
        } else {
            let scp = try await session.scp()
            if recursive {
                try await scp.receiveDirectory(from: remote, to: local, progress: nil)
            } else {
                try await scp.receive(from: remote, to: local, progress: nil)
            }
        }
    }
}

/// A file of `size` random bytes.
func randomFile(_ path: String, size: Int, mode: Int = 0o644) throws {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: size)
    bytes.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
        var index = 0
        while index < size {
            let value = generator.next() as UInt64
            for offset in 0..<min(8, size - index) {
                buffer[index + offset] = UInt8(truncatingIfNeeded: value >> (8 * offset))
            }
            index += 8
        }
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    chmod(path, mode_t(mode))
}

func sameContents(_ a: String, _ b: String) -> Bool {
    FileManager.default.contentsEqual(atPath: a, andPath: b)
}

/// Compares two large files with `cmp`, off the cooperative pool.
func filesEqual(_ a: String, _ b: String) async throws -> Bool {
    try await offPool { (try? ProcessRunner.run(["/usr/bin/cmp", "-s", a, b])) != nil }
}

func mode(of path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int
}

extension BulkDataTests {
    @Suite("File transfer", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
    struct TransferTests {
        static let cases: [(Engine, TransferProtocol)] = Engine.all.flatMap { engine in
            TransferProtocol.all.map { (engine, $0) }
        }

        @Test("round trips of 0 B, 1 B, 32 KiB + 1 and 8 MiB + 3, content and mode kept", arguments: cases)
        func roundTrips(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            for (index, size) in [0, 1, 32 * 1024 + 1, 8 * 1024 * 1024 + 3].enumerated() {
                let local = "\(dir)/local-\(index)"
                try randomFile(local, size: size, mode: index == 1 ? 0o751 : 0o640)
                try await transfer.upload(session, local, "\(dir)/remote-\(index)")
                #expect(sameContents(local, "\(dir)/remote-\(index)"), "upload of \(size) bytes")
                #expect(mode(of: "\(dir)/remote-\(index)") == mode(of: local))
                try await transfer.download(session, "\(dir)/remote-\(index)", "\(dir)/back-\(index)")
                #expect(sameContents(local, "\(dir)/back-\(index)"), "download of \(size) bytes")
                #expect(mode(of: "\(dir)/back-\(index)") == mode(of: local))
            }
            await session.close()
        }

        @Test("100 MB each way, content verified", arguments: cases)
        func hundredMegabytes(engine: Engine, transfer: TransferProtocol) async throws {
            // Exclusive: hundreds of megabytes through the process would blur another test's memory figure.
            try await Exclusive.run { try await hundredMegabytesAlone(engine: engine, transfer: transfer) }
        }

        private func hundredMegabytesAlone(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // Made and compared by shell tools, so the test process never holds 100 MB itself.
            _ = try await offPool {
                try ProcessRunner.run(["/bin/sh", "-c", "head -c 100000000 /dev/urandom > '\(dir)/big'"])
            }
            try await transfer.upload(session, "\(dir)/big", "\(dir)/big-remote")
            #expect(try await filesEqual("\(dir)/big", "\(dir)/big-remote"))
            try await transfer.download(session, "\(dir)/big-remote", "\(dir)/big-back")
            #expect(try await filesEqual("\(dir)/big", "\(dir)/big-back"))
            await session.close()
        }

        @Test("names with spaces and non-ASCII characters", arguments: cases)
        func unusualNames(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let local = "\(dir)/a file with spaces ünïcødé 'quoted'"
            try randomFile(local, size: 1000)
            let remote = "\(dir)/remote copy é 'x'"
            try await transfer.upload(session, local, remote)
            #expect(sameContents(local, remote))
            try await transfer.download(session, remote, "\(dir)/back ü")
            #expect(sameContents(local, "\(dir)/back ü"))
            await session.close()
        }

        @Test("directory trees with empty directories, both ways", arguments: cases)
        func trees(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let fm = FileManager.default
            try fm.createDirectory(atPath: "\(dir)/tree/sub/deeper", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: "\(dir)/tree/empty", withIntermediateDirectories: true)
            try randomFile("\(dir)/tree/top", size: 10)
            try randomFile("\(dir)/tree/sub/deeper/leaf", size: 70_000, mode: 0o700)
            try await transfer.upload(session, "\(dir)/tree", "\(dir)/uploaded", recursive: true)
            try await transfer.download(session, "\(dir)/uploaded", "\(dir)/downloaded", recursive: true)
            for copy in ["uploaded", "downloaded"] {
                #expect(sameContents("\(dir)/tree/top", "\(dir)/\(copy)/top"), "\(copy)")
                #expect(sameContents("\(dir)/tree/sub/deeper/leaf", "\(dir)/\(copy)/sub/deeper/leaf"), "\(copy)")
                #expect(mode(of: "\(dir)/\(copy)/sub/deeper/leaf") == 0o700, "\(copy)")
                var isDirectory: ObjCBool = false
                #expect(
                    fm.fileExists(atPath: "\(dir)/\(copy)/empty", isDirectory: &isDirectory) && isDirectory.boolValue,
                    "\(copy)")
            }
            await session.close()
        }

        @Test(
            "errors name host and path: missing local, missing remote, denied, directory without recursion",
            arguments: cases)
        func errors(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let host = session.options.host
            let missingLocal = await expectSSHError(.noSuchFile) {
                try await transfer.upload(session, "\(dir)/no-such-local", "\(dir)/x")
            }
            #expect(missingLocal?.description.contains("\(dir)/no-such-local") == true)
            #expect(missingLocal?.host == host)
            let missingRemote = await expectSSHError(.noSuchFile) {
                try await transfer.download(session, "\(dir)/no-such-remote", "\(dir)/y")
            }
            #expect(missingRemote?.description.contains("no-such-remote") == true)
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/y"))
            try FileManager.default.createDirectory(atPath: "\(dir)/locked", withIntermediateDirectories: false)
            chmod("\(dir)/locked", 0o555)
            try randomFile("\(dir)/small", size: 10)
            if getuid() != 0 || TestUser.name != "root" {
                let denied = await expectSSHError(.permissionDenied) {
                    try await transfer.upload(session, "\(dir)/small", "\(dir)/locked/small")
                }
                #expect(denied?.description.contains("locked") == true)
            }
            // Missing remote parents are created (as parallel-ssh does); a parent that is a file cannot be.
            try await transfer.upload(session, "\(dir)/small", "\(dir)/no-parent/deeper/small")
            #expect(FileManager.default.contents(atPath: "\(dir)/no-parent/deeper/small")?.count == 10)
            let underFile = await expectSSHError(.fileTransferFailed) {
                try await transfer.upload(session, "\(dir)/small", "\(dir)/small/sub/x")
            }
            #expect(underFile?.description.contains("\(dir)/small") == true, "\(underFile.map { "\($0)" } ?? "")")
            try FileManager.default.createDirectory(atPath: "\(dir)/adir", withIntermediateDirectories: false)
            await expectSSHError(.invalidArgument) { try await transfer.download(session, "\(dir)/adir", "\(dir)/z") }
            await expectSSHError(.invalidArgument) { try await transfer.upload(session, "\(dir)/adir", "\(dir)/w") }
            // Leftover temporary files would show up here.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".part") }
            #expect(leftovers.isEmpty)
            await session.close()
        }

        @Test(
            "a FIFO or a device as the source is refused, as scp refuses it, and skipped inside a tree: never waited on; a link back into the tree is not followed",
            arguments: cases)
        func specialFiles(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            #expect(mkfifo("\(dir)/fifo", 0o644) == 0)
            for source in ["\(dir)/fifo", "/dev/zero"] {
                let refused = await expectSSHError(.invalidArgument) {
                    try await transfer.upload(session, source, "\(dir)/copy")
                }
                #expect(refused?.description.contains("\(source) is not a regular file") == true, "\(source)")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/copy"))
            try FileManager.default.createDirectory(atPath: "\(dir)/tree", withIntermediateDirectories: false)
            #expect(mkfifo("\(dir)/tree/fifo", 0o644) == 0)
            try randomFile("\(dir)/tree/file", size: 100)
            // Links are followed, as scp -r and parallel-ssh follow them, but never back into the copy's own path.
            #expect(symlink(".", "\(dir)/tree/loop") == 0)
            #expect(symlink("file", "\(dir)/tree/link") == 0)
            try await transfer.upload(session, "\(dir)/tree", "\(dir)/uploaded", recursive: true)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: "\(dir)/uploaded").sorted() == ["file", "link"])
            #expect(sameContents("\(dir)/tree/file", "\(dir)/uploaded/file"))
            #expect(sameContents("\(dir)/tree/file", "\(dir)/uploaded/link"))
            await session.close()
        }

        @Test(
            "~, ~/… and ~user/… name home directories, as with scp; an unknown ~user creates nothing",
            arguments: cases)
        func homeDirectoryPaths(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let user = TestUser.name
            let home = try #require(getpwnam(user)?.pointee.pw_dir).withMemoryRebound(to: CChar.self, capacity: 1) {
                String(cString: $0)
            }
            let name = "pssh-home-\(transfer.name)-\(UUID().uuidString)"
            let placed = ["\(name)-1", "\(name)-2", "\(name)-3"].map { "\(home)/\($0)" }
            defer { for path in placed { try? FileManager.default.removeItem(atPath: path) } }
            try randomFile("\(dir)/\(name)-3", size: 300)
            try randomFile("\(dir)/source", size: 100)
            try await transfer.upload(session, "\(dir)/source", "~/\(name)-1")
            #expect(sameContents("\(dir)/source", placed[0]))
            try await transfer.upload(session, "\(dir)/source", "~\(user)/\(name)-2")
            #expect(sameContents("\(dir)/source", placed[1]))
            try await transfer.upload(session, "\(dir)/\(name)-3", "~")  // inside the home, under its own name
            #expect(sameContents("\(dir)/\(name)-3", placed[2]))
            try await transfer.download(session, "~/\(name)-1", "\(dir)/back-1")
            #expect(sameContents("\(dir)/source", "\(dir)/back-1"))
            try await transfer.download(session, "~\(user)/\(name)-2", "\(dir)/back-2")
            #expect(sameContents("\(dir)/source", "\(dir)/back-2"))
            let unknown = "pssh-no-such-user-\(UInt32.random(in: 0...UInt32.max))"
            let failure = await expectSSHError(.noSuchFile) {
                try await transfer.upload(session, "\(dir)/source", "~\(unknown)/x")
            }
            #expect(failure?.description.contains("~\(unknown)") == true, "\(failure.map { "\($0)" } ?? "")")
            await expectSSHError(.noSuchFile) { try await transfer.download(session, "~\(unknown)/x", "\(dir)/y") }
            #expect(!FileManager.default.fileExists(atPath: "\(home)/~\(unknown)"), "a directory named ~\(unknown)")
            await session.close()
        }

        @Test(
            "an existing directory as destination receives the source inside it, under its own name", arguments: cases)
        func intoExistingDirectory(engine: Engine, transfer: TransferProtocol) async throws {
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let fm = FileManager.default
            try randomFile("\(dir)/file", size: 1000)
            try fm.createDirectory(atPath: "\(dir)/tree/sub", withIntermediateDirectories: true)
            try randomFile("\(dir)/tree/sub/leaf", size: 100)
            for target in ["remote-target", "local-target"] {
                try fm.createDirectory(atPath: "\(dir)/\(target)", withIntermediateDirectories: false)
                chmod("\(dir)/\(target)", 0o777)
            }
            try await transfer.upload(session, "\(dir)/file", "\(dir)/remote-target")
            try await transfer.upload(session, "\(dir)/tree", "\(dir)/remote-target/", recursive: true)
            try await transfer.download(session, "\(dir)/file", "\(dir)/local-target/")
            try await transfer.download(session, "\(dir)/tree", "\(dir)/local-target", recursive: true)
            for target in ["remote-target", "local-target"] {
                #expect(sameContents("\(dir)/file", "\(dir)/\(target)/file"), "\(target)")
                #expect(sameContents("\(dir)/tree/sub/leaf", "\(dir)/\(target)/tree/sub/leaf"), "\(target)")
                #expect(
                    try fm.contentsOfDirectory(atPath: "\(dir)/\(target)").sorted() == ["file", "tree"], "\(target)")
            }
            await session.close()
        }

        @Test("SCP refuses names from the server that would leave the destination", arguments: Engine.all)
        func scpRefusesEscapingNames(engine: Engine) async throws {
            // A server whose every command is a hostile scp source: a directory, then a file named "../escaped".
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let script = "\(dir)/hostile-scp"
            try """
            ack() { dd bs=1 count=1 of=/dev/null 2>/dev/null; }
            ack; printf 'D0755 0 top\\n'; ack; printf 'C0644 3 ../escaped\\n'; ack; printf 'abc\\000'; ack
            printf 'E\\n'; ack
            """.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let hostile = try await TestSSHServer.start(extraConfig: ["ForceCommand /bin/sh \(script)"])
            defer { hostile.stop() }
            let session = try await engine.connect(to: hostile)
            let refused = await expectSSHError(.protocolError) {
                try await session.scp().receiveDirectory(from: "/anything", to: "\(dir)/inside", progress: nil)
            }
            #expect(refused?.description.contains("../escaped") == true, "\(String(describing: refused))")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/escaped"))
            await session.close()
        }

        @Test(
            "a full disk: a download fails with noSpace and leaves no file; an upload fails naming the path",
            .enabled(if: SmallFileSystem.available, "\(SmallFileSystem.unavailableReason)"),
            arguments: cases)
        func fullDisk(engine: Engine, transfer: TransferProtocol) async throws {
            guard let full = try await SmallFileSystem.mount(bytes: 1 << 20) else { return }
            let session = try await engine.connect()
            let dir = try scratchDirectory("transfer")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try randomFile("\(dir)/source", size: 4 << 20)
            // Local side full: the download is refused by the local file system.
            let local = await expectSSHError(.noSpace) {
                try await transfer.download(session, "\(dir)/source", "\(full.path)/copy")
            }
            #expect(local?.description.contains(full.path) == true, "\(String(describing: local))")
            #expect(local?.host == session.options.host)
            #expect(try full.contents().isEmpty, "no partial or temporary file is left behind")
            // Remote side full (the server is this machine): SCP reports "No space left"; SFTP's version 3 has no
            // status for it, only a generic failure, still naming the path.
            do {
                try await transfer.upload(session, "\(dir)/source", "\(full.path)/uploaded")
                Issue.record("an upload onto a full disk succeeded")
            } catch let error as SSHError {
                #expect(error.code == (transfer.name == "scp" ? .noSpace : .fileTransferFailed), "\(error)")
                #expect(error.description.contains("\(full.path)/uploaded"), "\(error)")
            }
            // Neither failure broke the connection.
            try await transfer.download(session, "\(dir)/source", "\(dir)/after")
            #expect(sameContents("\(dir)/source", "\(dir)/after"))
            await session.close()
            await full.unmount()
        }
    }
}
