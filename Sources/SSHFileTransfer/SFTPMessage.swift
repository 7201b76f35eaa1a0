import SSHBackend

/// SFTP version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH's sftp-server speaks): packet types, flags, status
/// codes and the byte encoding.
package enum SFTP {
    package enum PacketType: UInt8 {
        case initialize = 1, version = 2, open = 3, close = 4, read = 5, write = 6, lstat = 7, fstat = 8
        case setstat = 9, fsetstat = 10, opendir = 11, readdir = 12, remove = 13, mkdir = 14, rmdir = 15
        case realpath = 16, stat = 17, rename = 18
        case status = 101, handle = 102, data = 103, name = 104, attrs = 105
        case extended = 200, extendedReply = 201
    }

    package struct OpenFlags: OptionSet {
        package let rawValue: UInt32
        package init(rawValue: UInt32) { self.rawValue = rawValue }
        package static let read = OpenFlags(rawValue: 0x01)
        package static let write = OpenFlags(rawValue: 0x02)
        package static let create = OpenFlags(rawValue: 0x08)
        package static let truncate = OpenFlags(rawValue: 0x10)
        package static let exclusive = OpenFlags(rawValue: 0x20)
    }

    package enum StatusCode: UInt32 {
        case ok = 0, eof, noSuchFile, permissionDenied, failure, badMessage, noConnection, connectionLost, unsupported
    }

    /// The attribute flags of version 3.
    enum AttributeFlag {
        static let size: UInt32 = 0x1
        static let uidgid: UInt32 = 0x2
        static let permissions: UInt32 = 0x4
        static let acmodtime: UInt32 = 0x8
        static let extended: UInt32 = 0x8000_0000
    }
}

/// Builds an SFTP packet: length prefix, type, then fields.
package struct SFTPWriter {
    private(set) var bytes: [UInt8]

    package init(_ type: SFTP.PacketType, id: UInt32? = nil, reserve: Int = 64) {
        bytes = []
        bytes.reserveCapacity(reserve + 9)
        bytes.append(contentsOf: [0, 0, 0, 0, type.rawValue])
        if let id { write(id) }
    }

    package mutating func write(_ value: UInt32) {
        bytes.append(contentsOf: [
            UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff),
        ])
    }

    package mutating func write(_ value: UInt64) {
        write(UInt32(value >> 32))
        write(UInt32(value & 0xffff_ffff))
    }

    package mutating func write(_ string: String) { write(bytes: Array(string.utf8)) }

    package mutating func write<C: Collection>(bytes data: C) where C.Element == UInt8 {
        write(UInt32(data.count))
        bytes.append(contentsOf: data)
    }

    package mutating func write(_ attributes: SSHFileAttributes) {
        var flags: UInt32 = 0
        if attributes.size != nil { flags |= SFTP.AttributeFlag.size }
        if attributes.mode != nil { flags |= SFTP.AttributeFlag.permissions }
        write(flags)
        if let size = attributes.size { write(size) }
        if let mode = attributes.mode { write(mode) }
    }

    /// The packet with its length filled in.
    package func finished() -> [UInt8] {
        var result = bytes
        let length = UInt32(result.count - 4)
        result[0] = UInt8(length >> 24)
        result[1] = UInt8(length >> 16 & 0xff)
        result[2] = UInt8(length >> 8 & 0xff)
        result[3] = UInt8(length & 0xff)
        return result
    }
}

/// Reads fields from a received SFTP packet body (after the length).
package struct SFTPReader {
    private let bytes: [UInt8]
    private var offset: Int

    package init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    package var remaining: Int { bytes.count - offset }

    package mutating func readByte() throws(SSHError) -> UInt8 {
        guard offset < bytes.count else { throw Self.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    package mutating func readUInt32() throws(SSHError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw Self.truncated }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    package mutating func readUInt64() throws(SSHError) -> UInt64 {
        UInt64(try readUInt32()) << 32 | UInt64(try readUInt32())
    }

    package mutating func readBytes() throws(SSHError) -> ArraySlice<UInt8> {
        let length = Int(try readUInt32())
        guard length >= 0, offset + length <= bytes.count else { throw Self.truncated }
        defer { offset += length }
        return bytes[offset..<offset + length]
    }

    package mutating func readString() throws(SSHError) -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    package mutating func readAttributes() throws(SSHError) -> SSHFileAttributes {
        let flags = try readUInt32()
        var attributes = SSHFileAttributes()
        if flags & SFTP.AttributeFlag.size != 0 { attributes.size = try readUInt64() }
        if flags & SFTP.AttributeFlag.uidgid != 0 {
            _ = try readUInt32()
            _ = try readUInt32()
        }
        if flags & SFTP.AttributeFlag.permissions != 0 { attributes.mode = try readUInt32() }
        if flags & SFTP.AttributeFlag.acmodtime != 0 {
            _ = try readUInt32()
            attributes.modificationTime = UInt64(try readUInt32())
        }
        if flags & SFTP.AttributeFlag.extended != 0 {
            for _ in 0..<(try readUInt32()) {
                _ = try readBytes()
                _ = try readBytes()
            }
        }
        return attributes
    }

    /// The file names of an `SSH_FXP_NAME` answer (each entry's long name and attributes read and dropped).
    package mutating func readNames() throws(SSHError) -> [String] {
        var names: [String] = []
        for _ in 0..<(try readUInt32()) {
            names.append(try readString())
            _ = try readBytes()  // long name
            _ = try readAttributes()
        }
        return names
    }

    private static let truncated = SSHError(.protocolError, message: "the SFTP server sent a truncated packet")
}
