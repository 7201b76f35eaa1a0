import SSHBackend

/// The algorithms a server offers in its first key-exchange message (`SSH_MSG_KEXINIT`, RFC 4253 §7.1), read from
/// the bytes it sent before any key was agreed; an engine whose C library does not say what the server offered
/// (libssh2) keeps those bytes so a failed negotiation can name both sides.
public struct ServerAlgorithmOffer: Sendable, Hashable {
    /// Key-exchange methods.
    public var keyExchange: [String]
    /// Host-key algorithms.
    public var hostKeys: [String]
    /// Ciphers, client to server.
    public var ciphers: [String]
    /// MACs, client to server.
    public var macs: [String]

    /// The largest packet the parser accepts (RFC 4253 §6.1 asks implementations to handle 35,000 bytes).
    static let maximumPacket = 35_000

    /// Parses the start of what a server sent: optional lines before its identification string, the `SSH-` line,
    /// then the first binary packet, which must be a KEXINIT. `nil` while incomplete or when it is not one.
    public init?(serverStream bytes: [UInt8]) {
        // RFC 4253 §4.2: lines before "SSH-" are allowed; each ends in CR LF (or LF alone, as some servers send).
        var start = 0
        var found = false
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else { return nil }
            let isIdentification = bytes.count - start >= 4 && bytes[start..<start + 4].elementsEqual("SSH-".utf8)
            start = newline + 1
            if isIdentification {
                found = true
                break
            }
        }
        guard found else { return nil }
        var reader = WireReader(bytes: bytes, position: start)
        guard let length = reader.uint32(), length >= 2, Int(length) <= Self.maximumPacket,
            bytes.count - reader.position >= Int(length),
            let padding = reader.byte(), Int(padding) < Int(length) - 1,
            reader.byte() == 20, reader.skip(16)  // SSH_MSG_KEXINIT, cookie
        else { return nil }
        let end = start + 4 + Int(length) - Int(padding)
        reader.limit = end
        guard let kex = reader.nameList(), let hostKeys = reader.nameList(), let ciphers = reader.nameList(),
            reader.nameList() != nil, let macs = reader.nameList()
        else { return nil }
        keyExchange = kex
        self.hostKeys = hostKeys
        self.ciphers = ciphers
        self.macs = macs
    }

    /// Creates an offer from its lists.
    public init(keyExchange: [String], hostKeys: [String], ciphers: [String], macs: [String]) {
        self.keyExchange = keyExchange
        self.hostKeys = hostKeys
        self.ciphers = ciphers
        self.macs = macs
    }

    /// What stops a client offering `client` from agreeing with this server, one clause per kind of algorithm that
    /// has nothing in common (MACs only when the common ciphers all need one), naming both sides; `nil` when every
    /// kind has a match. `clientName` is how the client is named, e.g. "libssh2 1.10.0".
    public func mismatch(with client: SSHAlgorithmSupport, clientName: String) -> String? {
        var clauses: [String] = []
        func check(_ kind: String, _ server: [String], _ ours: [String]) {
            if !server.contains(where: ours.contains) {
                clauses.append(
                    "no common \(kind): the server offers \(server.joined(separator: ",")); "
                        + "\(clientName) has \(ours.joined(separator: ","))")
            }
        }
        check(
            "key exchange", keyExchange.filter { !$0.hasPrefix("ext-info-") && !$0.hasPrefix("kex-strict-") },
            client.keyExchange)
        check("host-key algorithm", hostKeys, client.hostKeys)
        check("cipher", ciphers, client.ciphers)
        let common = ciphers.filter(client.ciphers.contains)
        if !common.isEmpty && !common.contains(where: Self.isAEAD) { check("MAC", macs, client.macs) }
        return clauses.isEmpty ? nil : clauses.joined(separator: "; ")
    }

    /// Ciphers that authenticate their own packets, so no MAC is negotiated for them.
    public static func isAEAD(_ cipher: String) -> Bool {
        cipher.hasPrefix("chacha20-poly1305") || cipher.hasSuffix("-gcm@openssh.com")
    }
}

/// Reads SSH wire types (RFC 4251 §5) from a byte array, never past `limit`.
struct WireReader {
    let bytes: [UInt8]
    var position: Int
    var limit: Int

    init(bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
        limit = bytes.count
    }

    mutating func byte() -> UInt8? {
        guard position < limit else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint32() -> UInt32? {
        guard limit - position >= 4 else { return nil }
        defer { position += 4 }
        return bytes[position..<position + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func skip(_ count: Int) -> Bool {
        guard limit - position >= count else { return false }
        position += count
        return true
    }

    /// A name-list: a string of comma-separated ASCII names (empty list for an empty string).
    mutating func nameList() -> [String]? {
        guard let length = uint32(), Int(length) <= limit - position else { return nil }
        let text = bytes[position..<position + Int(length)]
        position += Int(length)
        guard text.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return text.split(separator: UInt8(ascii: ",")).map { String(decoding: $0, as: UTF8.self) }
    }
}
