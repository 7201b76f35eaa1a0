/// Splits a byte stream into lines in linear time, with a cap on a line's length: the one line rule of the
/// library's line readers (``HostLines``) and of `fleetsh`'s output.
///
/// A line ends at `\n` (a `\r` before it is dropped too). Each byte is scanned once, however the stream is
/// chunked. A line longer than ``maximumLineLength`` bytes is delivered in pieces of at most that length (cut
/// before a UTF-8 sequence, not inside one), so memory stays bounded whatever a command or a server prints; the
/// pieces, joined, are the line.
package struct LineSplitter: Sendable {
    /// The default cap on a line: 1 MiB.
    package static let defaultMaximumLineLength = 1 << 20

    /// The longest piece delivered as one line.
    package let maximumLineLength: Int
    /// Bytes not yet returned start at `head`; `scanned` is where the newline search resumes.
    private var pending: [UInt8] = []
    private var head = 0
    private var scanned = 0

    /// Creates a splitter with the given cap (at least 4 bytes, so a UTF-8 sequence always fits).
    package init(maximumLineLength: Int = LineSplitter.defaultMaximumLineLength) {
        self.maximumLineLength = max(4, maximumLineLength)
    }

    /// Whether bytes are waiting that form no complete line yet.
    package var hasPartialLine: Bool { head < pending.count }

    /// Adds received bytes.
    package mutating func append(_ chunk: some Collection<UInt8>) {
        if head > 0 {
            // Drop the lines already returned, once per chunk (not once per line).
            pending.removeSubrange(0..<head)
            scanned -= head
            head = 0
        }
        pending.append(contentsOf: chunk)
    }

    /// The next complete line (without its terminator), or the next piece of an over-long line; `nil` when more
    /// bytes are needed.
    package mutating func nextLine() -> ArraySlice<UInt8>? {
        let start = max(scanned, head)
        let limit = min(pending.count, head + maximumLineLength + 1)
        if start < limit, let newline = pending[start..<limit].firstIndex(of: UInt8(ascii: "\n")) {
            var end = newline
            if end > head && pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = pending[head..<end]
            head = newline + 1
            scanned = head
            return line
        }
        scanned = max(start, limit)
        guard pending.count - head > maximumLineLength else { return nil }
        var end = head + maximumLineLength
        // Cut before a UTF-8 continuation byte's sequence, not inside it.
        var back = 0
        while back < 3 && end - back > head && pending[end - back] & 0xC0 == 0x80 { back += 1 }
        if end - back > head && pending[end - back] & 0xC0 != 0x80 { end -= back }
        let piece = pending[head..<end]
        head = end
        scanned = head
        return piece
    }

    /// What remains at the end of the stream (a last line without terminator), at most one piece at a time;
    /// `nil` when nothing does.
    package mutating func takeRest() -> ArraySlice<UInt8>? {
        if let piece = nextLine() { return piece }
        guard head < pending.count else { return nil }
        defer {
            pending.removeAll()
            head = 0
            scanned = 0
        }
        return pending[head...]
    }
}
