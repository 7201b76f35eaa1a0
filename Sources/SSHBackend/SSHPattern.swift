/// OpenSSH's wildcard patterns (`match.c`): `*` matches any run of characters, `?` any one. Shared by the
/// known-hosts matcher and the configuration evaluator.
package enum SSHPattern {
    /// Whether `name` matches `pattern` (byte for byte, no case folding), iteratively.
    package static func match(_ name: some Collection<UInt8>, _ pattern: some Collection<UInt8>) -> Bool {
        let result = name.withContiguousStorageIfAvailable { nameBytes in
            pattern.withContiguousStorageIfAvailable { patternBytes in match(nameBytes, patternBytes) }
        }
        if let result, let result { return result }
        return Array(name).withUnsafeBufferPointer { nameBytes in
            Array(pattern).withUnsafeBufferPointer { patternBytes in match(nameBytes, patternBytes) }
        }
    }

    /// Whether `name` matches `pattern`.
    package static func match(_ name: String, _ pattern: String) -> Bool {
        var name = name
        var pattern = pattern
        return name.withUTF8 { nameBytes in pattern.withUTF8 { patternBytes in match(nameBytes, patternBytes) } }
    }

    private static func match(_ name: UnsafeBufferPointer<UInt8>, _ pattern: UnsafeBufferPointer<UInt8>) -> Bool {
        var n = 0
        var p = 0
        var starP: Int?
        var starN = 0
        while n < name.count {
            if p < pattern.count && (pattern[p] == UInt8(ascii: "?") || pattern[p] == name[n]) {
                n += 1
                p += 1
            } else if p < pattern.count && pattern[p] == UInt8(ascii: "*") {
                starP = p
                starN = n
                p += 1
            } else if let star = starP {
                p = star + 1
                starN += 1
                n = starN
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    /// OpenSSH's `match_pattern_list`: a comma list where a matching `!pattern` vetoes; `1` for a match, `-1`
    /// for a veto, `0` for neither. With `lowercase`, both sides are compared lowercased.
    package static func matchList(_ name: String, _ list: String, lowercase: Bool) -> Int {
        let subject = lowercase ? name.lowercased() : name
        var positive = false
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let negated = item.hasPrefix("!")
            let pattern = String(negated ? item.dropFirst() : item)
            if match(subject, lowercase ? pattern.lowercased() : pattern) {
                if negated { return -1 }
                positive = true
            }
        }
        return positive ? 1 : 0
    }
}
