import FleetCLI
import Foundation
import SSHTestSupport
import Testing

/// `fleetsh --diff`'s hunks, with GNU `diff -u` as the oracle.
@Suite("Unified diff (diff -u as the oracle)")
struct UnifiedDiffTests {
    static let base = (1...30).map { "line \($0)" }

    static let cases: [(name: String, new: [String])] = [
        ("one line changed in the middle", base.enumerated().map { $0.offset == 14 ? "changed" : $0.element }),
        ("a line added first", ["new first"] + base),
        ("the last two lines removed", Array(base.dropLast(2))),
        ("two changes far apart: two hunks", base.enumerated().map { [2, 25].contains($0.offset) ? "x" : $0.element }),
        (
            "two changes close together: one hunk",
            base.enumerated().map { [10, 15].contains($0.offset) ? "x" : $0.element }
        ),
        ("everything replaced", ["other", "text"]),
        ("from nothing", base),
    ]

    @Test("the hunks are diff -u's", arguments: cases.indices)
    func matchesDiff(index: Int) throws {
        let (name, new) = Self.cases[index]
        let old = name == "from nothing" ? [] : Self.base
        let directory = try scratchDirectory("unified-diff")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (file, lines) in [("a", old), ("b", new)] {
            try lines.map { $0 + "\n" }.joined().write(
                toFile: "\(directory)/\(file)", atomically: true, encoding: .utf8)
        }
        let oracle = try ProcessRunner.outcome(["/usr/bin/diff", "-u", "\(directory)/a", "\(directory)/b"])
        let expected = oracle.output.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2)
            .filter { !$0.isEmpty }.map(String.init)
        let ours = UnifiedDiff.hunks(from: old.map { Substring($0) }, to: new.map { Substring($0) })
        #expect(ours == expected, "\(name)")
    }

    @Test("equal texts have no hunk")
    func equal() {
        #expect(UnifiedDiff.hunks(from: ["a", "b"], to: ["a", "b"]).isEmpty)
    }
}
