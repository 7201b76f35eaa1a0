/// A line diff in `diff -u`'s form: hunks with three lines of context, `-` lines before `+` lines in a change.
/// The edit script is the standard library's (`CollectionDifference`, Myers' algorithm).
public enum UnifiedDiff {
    /// The hunks (each an `@@ -a,b +c,d @@` line, then its lines) turning `old` into `new`; empty when equal.
    public static func hunks(from old: [Substring], to new: [Substring], context: Int = 3) -> [String] {
        let difference = new.difference(from: old)
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        guard !removed.isEmpty || !inserted.isEmpty else { return [] }
        // The edit script in order, each step with its position in both sides.
        var steps: [(mark: Character, text: Substring, old: Int, new: Int)] = []
        var (i, j) = (0, 0)
        while i < old.count || j < new.count {
            if i < old.count, removed.contains(i) {
                steps.append(("-", old[i], i, j))
                i += 1
            } else if j < new.count, inserted.contains(j) {
                steps.append(("+", new[j], i, j))
                j += 1
            } else {
                steps.append((" ", old[i], i, j))
                i += 1
                j += 1
            }
        }
        // Hunks: the changed steps with `context` unchanged ones around them, merged when they touch.
        let changed = steps.indices.filter { steps[$0].mark != " " }
        var ranges: [ClosedRange<Int>] = []
        for index in changed {
            let range = max(0, index - context)...min(steps.count - 1, index + context)
            if let last = ranges.last, range.lowerBound <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                ranges.append(range)
            }
        }
        var lines: [String] = []
        for range in ranges {
            let hunk = steps[range]
            let oldCount = hunk.filter { $0.mark != "+" }.count
            let newCount = hunk.filter { $0.mark != "-" }.count
            let first = hunk[range.lowerBound]
            lines.append("@@ -\(span(first.old, oldCount)) +\(span(first.new, newCount)) @@")
            lines += hunk.map { "\($0.mark)\($0.text)" }
        }
        return lines
    }

    /// `diff -u`'s range: the first line (1-based) and the count, the count left out when it is 1; an empty range
    /// names the line before it.
    private static func span(_ start: Int, _ count: Int) -> String {
        switch count {
        case 0: "\(start),0"
        case 1: "\(start + 1)"
        default: "\(start + 1),\(count)"
        }
    }
}
