import SSHBackend
import Testing

@testable import SSHFileTransfer

@Suite("SFTP packets")
struct SFTPPacketTests {
    @Test("a packet written with SFTPWriter reads back field by field")
    func roundTrip() throws {
        var writer = SFTPWriter(.open, id: 7)
        writer.write("/tmp/x")
        writer.write(UInt32(0x1a))
        writer.write(SSHFileAttributes(size: 1234, mode: 0o644))
        let packet = writer.finished()
        #expect(Array(packet.prefix(4)) == [0, 0, 0, UInt8(packet.count - 4)])
        var buffer = PacketBuffer()
        buffer.append(packet)
        let body = try #require(try buffer.next())
        var reader = SFTPReader(body)
        #expect(try reader.readByte() == SFTP.PacketType.open.rawValue)
        #expect(try reader.readUInt32() == 7)
        #expect(try reader.readString() == "/tmp/x")
        #expect(try reader.readUInt32() == 0x1a)
        let attributes = try reader.readAttributes()
        #expect(attributes.size == 1234)
        #expect(attributes.mode == 0o644)
        #expect(reader.remaining == 0)
    }

    @Test("packets split across chunks and packed together are separated exactly")
    func framing() throws {
        var one = SFTPWriter(.close, id: 1)
        one.write("a")
        var two = SFTPWriter(.close, id: 2)
        two.write("bb")
        let stream = one.finished() + two.finished()
        var buffer = PacketBuffer()
        var packets: [[UInt8]] = []
        for byte in stream {
            buffer.append([byte])
            while let packet = try buffer.next() { packets.append(packet) }
        }
        #expect(packets.count == 2)
        #expect(packets.map { Array($0.suffix(2)) } == [[1, 97], [98, 98]])
    }

    @Test(
        "an empty or oversized length is a protocol error, not an allocation",
        arguments: [
            [UInt8]([0, 0, 0, 0, 1]), [0xff, 0xff, 0xff, 0xff, 1], [0, 0x10, 0, 1, 1],
        ])
    func badLengths(bytes: [UInt8]) {
        var buffer = PacketBuffer()
        buffer.append(bytes)
        #expect { try buffer.next() } throws: { ($0 as? SSHError)?.code == .protocolError }
    }

    @Test(
        "truncated fields are protocol errors",
        arguments: [
            [UInt8]([0, 0]), [0, 0, 0, 9, 65], [0x80, 0, 0, 0],
        ])
    func truncated(bytes: [UInt8]) {
        var reader = SFTPReader(bytes)
        #expect { try reader.readString() } throws: { ($0 as? SSHError)?.code == .protocolError }
    }

    @Test("attributes claiming four billion extensions fail at the first missing one")
    func hostileAttributes() {
        var reader = SFTPReader([0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
        #expect { try reader.readAttributes() } throws: { ($0 as? SSHError)?.code == .protocolError }
    }
}

@Suite("SCP headers and names")
struct SCPHeaderTests {
    @Test("well-formed file and directory headers")
    func valid() {
        #expect(
            SCPRecord(header: UInt8(ascii: "C"), "0644 12 notes.txt") == .file(mode: 0o644, size: 12, name: "notes.txt")
        )
        #expect(
            SCPRecord(header: UInt8(ascii: "C"), "0600 0 a name with spaces")
                == .file(mode: 0o600, size: 0, name: "a name with spaces"))
        #expect(SCPRecord(header: UInt8(ascii: "D"), "0755 0 logs") == .directory(mode: 0o755, name: "logs"))
    }

    @Test(
        "malformed headers are refused",
        arguments: [
            "0644 12", "0644  name", "abc 1 x", "0644 -1 x", "0644 1x x", "99999 1 x", "0644 1 ", "",
        ])
    func malformed(line: String) {
        #expect(SCPRecord(header: UInt8(ascii: "C"), line) == nil)
    }

    @Test("a tree: where each record lands, and the transfer completes with the top directory's E")
    func tree() throws {
        var state = SCPReceiveState(top: "/dst", recursive: true)
        let records: [(String, SCPReceiveState.Step)] = [
            ("D0755 0 src", .directory(path: "/dst", mode: 0o755)),
            ("T1 0 1 0", .acknowledge),
            ("C0644 3 a", .file(path: "/dst/a", mode: 0o644, size: 3)),
            ("D0700 0 sub", .directory(path: "/dst/sub", mode: 0o700)),
            ("C0600 0 b", .file(path: "/dst/sub/b", mode: 0o600, size: 0)),
            ("E", .endDirectory),
        ]
        for (line, step) in records {
            #expect(try state.consume(kind: line.utf8.first ?? 0, line: String(line.dropFirst())) == step)
            #expect(!state.isComplete)
        }
        #expect(try state.consume(kind: UInt8(ascii: "E"), line: "") == .endDirectory)
        #expect(state.isComplete)
        #expect(throws: SCPReceiveState.Violation.afterEnd) {
            try state.consume(kind: UInt8(ascii: "C"), line: "0644 1 x")
        }
    }

    @Test(
        "hostile or broken record sequences are violations, never a crash (E first crashed the receiver once)",
        arguments: [
            (["E"], SCPReceiveState.Violation.unmatchedEnd),
            (["D0755 0 top", "E", "E"], .afterEnd),
            (["D0755 0 top", "C0644 1 ../escape"], .unsafeName("../escape")),
            (["D0755 0 top", "D0755 0 a/b"], .unsafeName("a/b")),
            (["C0644 x name"], .malformedHeader("0644 x name")),
            (["X"], .unexpectedRecord(UInt8(ascii: "X"))),
            (["\u{2}scp: /x: No such file or directory"], .remoteError("scp: /x: No such file or directory")),
        ])
    func violations(lines: [String], violation: SCPReceiveState.Violation) {
        var state = SCPReceiveState(top: "/dst", recursive: true)
        #expect(throws: violation) {
            for line in lines { _ = try state.consume(kind: line.utf8.first ?? 0, line: String(line.dropFirst())) }
        }
    }

    @Test("a single file: a directory is refused, the file completes the transfer")
    func singleFile() throws {
        var state = SCPReceiveState(top: "/dst/f", recursive: false)
        #expect(throws: SCPReceiveState.Violation.directoryNotAsked) {
            try state.consume(kind: UInt8(ascii: "D"), line: "0755 0 d")
        }
        var file = SCPReceiveState(top: "/dst/f", recursive: false)
        #expect(
            try file.consume(kind: UInt8(ascii: "C"), line: "0644 5 other-name")
                == .file(path: "/dst/f", mode: 0o644, size: 5))
        #expect(file.isComplete)
    }

    @Test("names a server may not make us create", arguments: ["", ".", "..", "../x", "a/b", "/etc/passwd", "x\u{0}y"])
    func unsafeNames(name: String) {
        #expect(!PathName.isPlainEntry(name))
    }

    @Test("path arithmetic")
    func paths() {
        #expect(PathName.baseName("a/b/") == "b")
        #expect(PathName.parent(of: "/x") == "/")
        #expect(PathName.parent(of: "name") == "")
        #expect(PathName.joined("dir/", "f") == "dir/f")
        #expect(PathName.temporaryName(for: "d/f").hasPrefix("d/.f.pssh-"))
        #expect(PathName.isPlainEntry("report.csv"))
    }
}
