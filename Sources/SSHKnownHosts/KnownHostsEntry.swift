import Foundation

/// One usable line of a known-hosts file.
public struct KnownHostsEntry: Sendable, Hashable {
    /// The line's marker.
    public enum Marker: Sendable, Hashable {
        /// A host key.
        case none
        /// `@revoked`: this key must never be accepted.
        case revoked
        /// `@cert-authority`: a CA for host certificates (recognised; neither engine negotiates certificates).
        case certAuthority
    }

    /// How the line names its hosts.
    enum Names: Sendable, Hashable {
        /// `|1|salt|hash`: one name, hidden.
        case hashed(salt: [UInt8], hash: [UInt8])
        /// A comma list of patterns.
        case patterns([HostPattern.Pattern])
    }

    /// The marker.
    public let marker: Marker
    let names: Names
    /// The key.
    public let key: HostKeyInfo
    /// The file the line is in.
    public let file: String
    /// The line number, from 1.
    public let line: Int

    /// `file:line`, as OpenSSH names an entry.
    public var location: String { "\(file):\(line)" }
}

/// Parses known-hosts text as OpenSSH 9.2 does (`hostfile.c`): blank and `#` lines ignored; an optional
/// `@revoked` or `@cert-authority` marker; a hashed name or a comma list of patterns; `type base64 [comment]`,
/// the type agreeing with the blob. A line that does not parse is reported and skipped, never fatal.
package enum KnownHostsParser {
    /// The entries of `text` (the contents of `file`), and the lines skipped with why.
    package static func parse(_ text: [UInt8], file: String) -> (
        entries: [KnownHostsEntry], skipped: [(line: Int, reason: String)]
    ) {
        var entries: [KnownHostsEntry] = []
        var skipped: [(Int, String)] = []
        var number = 0
        for rawLine in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            switch parseLine(rawLine) {
            case .entry(let marker, let names, let key):
                entries.append(KnownHostsEntry(marker: marker, names: names, key: key, file: file, line: number))
            case .ignored: break
            case .invalid(let reason): skipped.append((number, reason))
            }
        }
        return (entries, skipped)
    }

    private enum LineResult {
        case entry(KnownHostsEntry.Marker, KnownHostsEntry.Names, HostKeyInfo)
        case ignored
        case invalid(String)
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private static func parseLine(_ raw: ArraySlice<UInt8>) -> LineResult {
        var fields = raw.split(whereSeparator: isBlank).map { String(decoding: $0, as: UTF8.self) }
        guard let first = fields.first, !first.hasPrefix("#") else { return .ignored }
        var marker = KnownHostsEntry.Marker.none
        if first.hasPrefix("@") {
            switch first {
            case "@revoked": marker = .revoked
            case "@cert-authority": marker = .certAuthority
            default: return .invalid("unknown marker \(first)")
            }
            fields.removeFirst()
        }
        guard fields.count >= 3 else { return .invalid("expected hosts, key type and key") }
        let names: KnownHostsEntry.Names
        if fields[0].hasPrefix("|1|") {
            let parts = fields[0].dropFirst(3).split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 2, let salt = Data(base64Encoded: String(parts[0])),
                let hash = Data(base64Encoded: String(parts[1])), salt.count == 20, hash.count == 20
            else { return .invalid("malformed hashed host name") }
            names = .hashed(salt: Array(salt), hash: Array(hash))
        } else if fields[0].hasPrefix("|") {
            return .invalid("unknown hashed host name format")
        } else {
            names = .patterns(fields[0].split(separator: ",").map(HostPattern.Pattern.init))
        }
        let type = fields[1]
        guard HostKeyInfo.knownBlobTypes.contains(type) else { return .invalid("unknown key type \(type)") }
        guard let data = Data(base64Encoded: fields[2]), let key = HostKeyInfo(blob: Array(data)) else {
            return .invalid("key is not valid base64 of an SSH public key")
        }
        guard key.blobType == type else { return .invalid("key type \(type) disagrees with the key (\(key.blobType))") }
        return .entry(marker, names, key)
    }
}
