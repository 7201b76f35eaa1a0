/// Host sets as clush and pdsh write them: `web[01-20].example.com`, `node[1-5,7,9-12]`, several bracketed
/// ranges in one name (their product), comma-separated lists outside brackets, zero padding kept
/// (`[08-10]` gives `08 09 10`). ``fold(_:)`` writes a list back in that syntax. Brackets holding a colon are an
/// IPv6 address, kept as written (`root@[::1]:2222`, `[fe80::1%eth0]`).
public enum NodeSet {
    /// A host set that cannot be read; the message says where.
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        /// What is wrong, naming the text.
        public let description: String
    }

    /// The most names one expression may give (a typo such as `[1-99999999]` is an error, not a hang).
    public static let limit = 10_000_000

    /// The names `text` stands for, in order, duplicates kept out (first one wins).
    /// - Throws: ``SyntaxError`` for an unbalanced bracket, an empty or reversed range, or a set too large.
    public static func expand(_ text: String) throws(SyntaxError) -> [String] {
        try expand(text) { (group: String) throws(SyntaxError) -> [String] in
            throw SyntaxError(description: "'@\(group)' in '\(text)': groups need a groups file (-g)")
        }
    }

    /// The names `text` stands for, where a part `@name` stands for the hosts `group` gives for `name` (clush's
    /// group syntax: `@web,db1`).
    public static func expand(
        _ text: String, group: (String) throws(SyntaxError) -> [String]
    ) throws(SyntaxError) -> [String] {
        var names: [String] = []
        var seen = Set<String>()
        for part in try splitTopLevel(text) where !part.isEmpty {
            let members = part.hasPrefix("@") ? try group(String(part.dropFirst())) : try expandOne(part, whole: text)
            for name in members where seen.insert(name).inserted {
                names.append(name)
            }
            guard names.count <= limit else {
                throw SyntaxError(description: "'\(text)' gives more than \(limit) names")
            }
        }
        return names
    }

    /// Splits at commas outside brackets.
    private static func splitTopLevel(_ text: String) throws(SyntaxError) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            switch character {
            case "[":
                depth += 1
                if depth > 1 { throw SyntaxError(description: "nested '[' in '\(text)'") }
            case "]":
                depth -= 1
                if depth < 0 { throw SyntaxError(description: "unbalanced ']' in '\(text)'") }
            case "," where depth == 0:
                parts.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        if depth != 0 { throw SyntaxError(description: "unclosed '[' in '\(text)'") }
        parts.append(current)
        return parts.map { $0.trimmingWhitespace }
    }

    /// One name pattern with any number of bracketed ranges.
    private static func expandOne(_ pattern: String, whole: String) throws(SyntaxError) -> [String] {
        var results = [""]
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "[") {
            guard let close = rest[open...].firstIndex(of: "]") else {
                throw SyntaxError(description: "unclosed '[' in '\(whole)'")
            }
            let literal = String(rest[..<open])
            let body = String(rest[rest.index(after: open)..<close])
            // `[::1]` (as in `root@[::1]:2222`) is an IPv6 address, written as ssh writes one beside a port: a
            // range never holds a colon.
            let values = body.contains(":") ? ["[\(body)]"] : try rangeValues(body, whole: whole)
            guard results.count * values.count <= limit else {
                throw SyntaxError(description: "'\(whole)' gives more than \(limit) names")
            }
            results = results.flatMap { prefix in values.map { prefix + literal + $0 } }
            rest = rest[rest.index(after: close)...]
        }
        return results.map { $0 + rest }
    }

    /// The values of a bracket body: `1-5,7,09-12`.
    private static func rangeValues(_ body: String, whole: String) throws(SyntaxError) -> [String] {
        var values: [String] = []
        for item in body.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }),
                let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1])
            else {
                throw SyntaxError(description: "bad range '[\(body)]' in '\(whole)' (expected e.g. [1-5,7,09-12])")
            }
            guard low <= high else { throw SyntaxError(description: "reversed range '\(item)' in '\(whole)'") }
            guard high - low < limit - values.count else {
                throw SyntaxError(description: "'\(whole)' gives more than \(limit) names")
            }
            // Zero padding as written: [01-10] gives 01 ... 10; [1-10] gives 1 ... 10.
            let width = bounds[0].count > 1 && bounds[0].hasPrefix("0") ? bounds[0].count : 0
            for value in low...high {
                let digits = String(value)
                values.append(String(repeating: "0", count: max(0, width - digits.count)) + digits)
            }
        }
        return values
    }

    /// `names` written as a node set: names that differ only in their last number are folded into one bracketed
    /// range (`node1,node2,node3,node7` gives `node[1-3,7]`), keeping zero padding; the others are listed as they
    /// are. Groups come in the order of their first name.
    public static func fold(_ names: [String]) -> String {
        // Zero-padded widths seen per prefix and suffix: an unpadded number of that width (10 beside 08) joins them.
        var paddedWidths: [String: Set<Int>] = [:]
        for name in names {
            if let (prefix, digits, suffix) = lastNumber(in: name), digits.count > 1, digits.hasPrefix("0") {
                paddedWidths["\(prefix)\u{0}\(suffix)", default: []].insert(digits.count)
            }
        }
        var order: [String] = []
        var groups: [String: (prefix: String, suffix: String, width: Int, numbers: [Int])] = [:]
        var singles: [String: String] = [:]
        for name in names {
            guard let (prefix, digits, suffix) = lastNumber(in: name), let value = Int(digits) else {
                if singles[name] == nil && groups[name] == nil {
                    singles[name] = name
                    order.append(name)
                }
                continue
            }
            let padded = digits.count > 1 && digits.hasPrefix("0")
            let joins = paddedWidths["\(prefix)\u{0}\(suffix)"]?.contains(digits.count) == true
            let width = padded || joins ? digits.count : 0
            let key = "\(prefix)\u{0}\(suffix)\u{0}\(width)"
            if groups[key] == nil {
                groups[key] = (prefix, suffix, width, [])
                order.append(key)
            }
            groups[key]?.numbers.append(value)
        }
        return order.map { key -> String in
            if let single = singles[key] { return single }
            guard let group = groups[key] else { return key }
            let numbers = Array(Set(group.numbers)).sorted()
            func pad(_ value: Int) -> String {
                let digits = String(value)
                return String(repeating: "0", count: max(0, group.width - digits.count)) + digits
            }
            if numbers.count == 1 { return group.prefix + pad(numbers[0]) + group.suffix }
            var ranges: [String] = []
            var start = numbers[0]
            var previous = start
            for value in numbers.dropFirst() + [Int.min] {
                if value == previous + 1 {
                    previous = value
                    continue
                }
                ranges.append(start == previous ? pad(start) : "\(pad(start))-\(pad(previous))")
                start = value
                previous = value
            }
            return "\(group.prefix)[\(ranges.joined(separator: ","))]\(group.suffix)"
        }.joined(separator: ",")
    }

    /// The name split around its last run of digits.
    private static func lastNumber(in name: String) -> (String, String, String)? {
        guard let end = name.lastIndex(where: \.isASCIIDigit) else { return nil }
        var start = end
        while start > name.startIndex, name[name.index(before: start)].isASCIIDigit {
            start = name.index(before: start)
        }
        let afterEnd = name.index(after: end)
        guard name.distance(from: start, to: afterEnd) <= 18 else { return nil }
        return (String(name[..<start]), String(name[start..<afterEnd]), String(name[afterEnd...]))
    }
}

extension Character {
    /// `0`-`9` only (not other scripts' digits).
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        var view = Substring(self)
        while view.first == " " || view.first == "\t" { view = view.dropFirst() }
        while view.last == " " || view.last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
