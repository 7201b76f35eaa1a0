/// The entries of a set of known-hosts files (user files first, then global ones, in order), indexed for lookup:
/// literal names in a dictionary, wildcard or negated pattern lists scanned, hashed names tested with a
/// precomputed HMAC state per entry. Immutable once built.
package struct KnownHostsIndex: Sendable {
    /// Every entry, in file and line order.
    let entries: [KnownHostsEntry]
    private let literal: [String: [Int]]
    private let patterned: [(index: Int, patterns: [HostPattern.Pattern])]
    private let hashed: [(index: Int, mac: HMACSHA1, hash: SHA1.State)]

    /// Indexes `entries` (already in priority order).
    package init(_ entries: [KnownHostsEntry]) {
        self.entries = entries
        var literal: [String: [Int]] = [:]
        var patterned: [(Int, [HostPattern.Pattern])] = []
        var hashed: [(Int, HMACSHA1, SHA1.State)] = []
        for (index, entry) in entries.enumerated() {
            switch entry.names {
            case .hashed(let salt, let hash):
                hashed.append((index, HMACSHA1(key: salt), SHA1.State(digest: hash)))
            case .patterns(let patterns):
                if patterns.allSatisfy({ !$0.negated && $0.isLiteral }) {
                    for name in Set(patterns.map { String(decoding: $0.bytes, as: UTF8.self) }) {
                        literal[name, default: []].append(index)
                    }
                } else {
                    patterned.append((index, patterns))
                }
            }
        }
        self.literal = literal
        self.patterned = patterned
        self.hashed = hashed
    }

    /// How many entries name their host hashed (each costs an HMAC per distinct lookup name).
    var hashedCount: Int { hashed.count }

    /// The entries whose names match `name` (compared lowercased), in file and line order.
    package func lookup(_ name: String) -> [KnownHostsEntry] {
        let lowered = name.lowercased()
        let bytes = Array(lowered.utf8)
        var found = literal[lowered] ?? []
        for (index, patterns) in patterned where HostPattern.matchList(bytes, patterns) == .matched {
            found.append(index)
        }
        if !hashed.isEmpty {
            let message = HMACSHA1.Message(bytes)
            for (index, mac, hash) in hashed where mac.mac(message) == hash { found.append(index) }
        }
        return found.sorted().map { entries[$0] }
    }
}

/// What the known-hosts files say about a key a host presented (OpenSSH's `check_key_in_hostkeys`).
public enum HostKeyVerdict: Sendable, Equatable {
    /// An entry holds this key.
    case known(KnownHostsEntry)
    /// No entry for the name.
    case new
    /// Entries exist for the name, none with this key; `offending` is the one OpenSSH would name (one of the
    /// same type if any, else the first).
    case changed(offending: KnownHostsEntry)
    /// An `@revoked` entry matching the name holds this key.
    case revoked(KnownHostsEntry)

    /// The verdict for `key` given the entries matching the name, in order.
    static func judge(_ key: HostKeyInfo, _ entries: [KnownHostsEntry]) -> HostKeyVerdict {
        if let revoked = entries.first(where: { $0.marker == .revoked && $0.key.blob == key.blob }) {
            return .revoked(revoked)
        }
        let plain = entries.filter { $0.marker == .none }
        if let match = plain.first(where: { $0.key.blob == key.blob }) { return .known(match) }
        if let sameType = plain.first(where: { $0.key.blobType == key.blobType }) {
            return .changed(offending: sameType)
        }
        if let other = plain.first { return .changed(offending: other) }
        return .new
    }
}
