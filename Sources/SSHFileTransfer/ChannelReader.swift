import SSHBackend

/// Buffered reads (a byte, a line, exactly n bytes) from one channel stream, for protocols such as SCP.
struct ChannelReader {
    private let stream: SSHByteStream
    private var buffer: [UInt8] = []
    private var head = 0

    init(_ stream: SSHByteStream) { self.stream = stream }

    private var available: Int { buffer.count - head }

    /// Pulls one more chunk; false at the end of the stream.
    private mutating func fill() async throws -> Bool {
        guard let chunk = try await stream.nextChunk() else { return false }
        if head > 0 {
            buffer.removeSubrange(0..<head)
            head = 0
        }
        buffer.append(contentsOf: chunk)
        return true
    }

    /// The next byte, nil at the end.
    mutating func readByte() async throws -> UInt8? {
        while available == 0 { if try await !fill() { return nil } }
        defer { head += 1 }
        return buffer[head]
    }

    /// More than the allowed bytes came without a newline.
    struct LineTooLong: Error {}

    /// The bytes up to a newline (not included), nil at the end; ``LineTooLong`` once more than `limit` bytes came
    /// without one.
    mutating func readLine(limit: Int) async throws -> String? {
        var scanned = head
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[head..<newline], as: UTF8.self)
                head = newline + 1
                return line
            }
            if buffer.count - head > limit {
                throw LineTooLong()
            }
            scanned = buffer.count
            let offset = scanned - head
            if try await !fill() { return nil }
            scanned = head + offset
        }
    }

    /// Up to `count` bytes that are already buffered or arrive next (at least one, unless at the end).
    mutating func read(upTo count: Int) async throws -> ArraySlice<UInt8> {
        while available == 0 { if try await !fill() { return [] } }
        let taken = min(count, available)
        defer { head += taken }
        return buffer[head..<head + taken]
    }
}
