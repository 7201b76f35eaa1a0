import SSHBackend

/// OpenSSH's host pattern matching (`match.c`): `*` matches any run of characters, `?` any one; a comma list
/// matches when a positive pattern matches and no negated (`!`) one does. Both sides are compared lowercased.
enum HostPattern {
    /// The outcome of a pattern list against a name.
    enum Outcome: Equatable {
        case matched
        case vetoed
        case none
    }

    /// Matches lowercase `name` against the comma list `patterns` (already lowercased).
    static func matchList(_ name: [UInt8], _ patterns: [Pattern]) -> Outcome {
        var positive = false
        for pattern in patterns where match(name[...], pattern.bytes[...]) {
            if pattern.negated { return .vetoed }
            positive = true
        }
        return positive ? .matched : .none
    }

    /// One pattern of a list.
    struct Pattern: Sendable, Hashable {
        let negated: Bool
        let bytes: [UInt8]

        /// Parses one comma-separated item (lowercased).
        init(_ item: Substring) {
            negated = item.hasPrefix("!")
            bytes = Array((negated ? item.dropFirst() : item).lowercased().utf8)
        }

        /// Whether the pattern has wildcards (otherwise it names one host exactly).
        var isLiteral: Bool { !bytes.contains(UInt8(ascii: "*")) && !bytes.contains(UInt8(ascii: "?")) }
    }

    /// `match_pattern`, shared with the configuration evaluator.
    static func match(_ name: ArraySlice<UInt8>, _ pattern: ArraySlice<UInt8>) -> Bool {
        SSHPattern.match(name, pattern)
    }
}
