import ParallelFrontend
import Testing

/// The one line rule (``LineSplitter``): lines whatever the chunking, over-long lines in bounded pieces.
@Suite("Line splitter")
struct LineSplitterTests {
    private func split(_ text: [UInt8], chunk: Int, limit: Int) -> [[UInt8]] {
        var splitter = LineSplitter(maximumLineLength: limit)
        var lines: [[UInt8]] = []
        var index = 0
        while index < text.count {
            splitter.append(text[index..<min(index + chunk, text.count)])
            while let line = splitter.nextLine() { lines.append(Array(line)) }
            index += chunk
        }
        while let line = splitter.takeRest() { lines.append(Array(line)) }
        return lines
    }

    @Test("the same lines for every chunk size; CR before LF dropped; a last line without newline kept")
    func chunking() {
        let text = Array("one\r\ntwo\n\nthree without end".utf8)
        let expected = ["one", "two", "", "three without end"].map { Array($0.utf8) }
        for chunk in 1...text.count { #expect(split(text, chunk: chunk, limit: 1 << 20) == expected, "chunk \(chunk)") }
    }

    @Test("a line longer than the cap arrives in pieces of at most the cap, never cut inside a UTF-8 character")
    func pieces() {
        let text = Array(String(repeating: "é", count: 10).utf8) + [10] + Array("tail".utf8)  // 20 bytes, then a line
        for chunk in [1, 3, 7, 100] {
            let lines = split(text, chunk: chunk, limit: 7)
            #expect(
                lines.dropLast().allSatisfy { $0.count <= 7 && String(validating: $0, as: UTF8.self) != nil },
                "\(lines)")
            #expect(Array(lines.dropLast().joined()) == Array(String(repeating: "é", count: 10).utf8), "chunk \(chunk)")
            #expect(lines.last == Array("tail".utf8))
        }
        let plain = split(Array(repeating: UInt8(ascii: "a"), count: 10), chunk: 4, limit: 4)
        #expect(plain.map(\.count) == [4, 4, 2])
    }
}
