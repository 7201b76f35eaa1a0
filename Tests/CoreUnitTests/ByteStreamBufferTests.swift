import SSHEventLoop
import SSHTestSupport
import Synchronization
import Testing

@Suite("Bounded output buffer", .timeLimit(.minutes(10)))
struct ByteStreamBufferTests {
    @Test("the producer is told to stop at capacity, and asked to resume once the reader drained half")
    func backpressure() async throws {
        let demands = Mutex(0)
        let buffer = ByteStreamBuffer(capacity: 1000) { demands.withLock { $0 += 1 } }
        var produced = 0
        while buffer.hasRoom() {
            buffer.append([UInt8](repeating: 7, count: 300))
            produced += 300
        }
        #expect(produced == 1200)  // capacity plus at most one chunk
        #expect(buffer.bufferedBytes == 1200)
        #expect(demands.withLock { $0 } == 0)
        var read = 0
        while demands.withLock({ $0 }) == 0, let chunk = try await buffer.next() { read += chunk.count }
        #expect(read >= 600 && read <= 900, "resumed after \(read) bytes were read")
        #expect(buffer.hasRoom())
    }

    @Test("what was buffered before the end is still delivered, then the end or the error")
    func endAfterData() async throws {
        struct Failure: Error {}
        let buffer = ByteStreamBuffer(capacity: 100) {}
        buffer.append([1, 2])
        buffer.append([3])
        buffer.finish(throwing: Failure())
        #expect(!buffer.hasRoom())
        #expect(try await buffer.next() == [1, 2])
        #expect(try await buffer.next() == [3])
        await #expect(throws: Failure.self) { try await buffer.next() }

        let clean = ByteStreamBuffer(capacity: 100) {}
        clean.append([9])
        clean.finish()
        #expect(try await clean.next() == [9])
        #expect(try await clean.next() == nil)
    }

    @Test("a reader waiting on an empty buffer wakes for the next chunk")
    func waitingReader() async throws {
        let buffer = ByteStreamBuffer(capacity: 100) {}
        async let chunk = buffer.next()
        try await waitUntil("a waiting reader") { buffer.hasWaitingReader }
        buffer.append([42])
        #expect(try await chunk == [42])
    }

    @Test("a stream nobody read may grow to its limit when asked with extended room; a read stream may not")
    func extendedRoom() async throws {
        let unread = ByteStreamBuffer(capacity: 100, limit: 1000) {}
        var produced = 0
        while unread.hasRoom(extended: true) {
            unread.append([UInt8](repeating: 1, count: 100))
            produced += 100
        }
        #expect(produced == 1000)
        #expect(unread.verdictWhileEndAwaited == .failWaiters)
        #expect(!unread.hasRoom())

        let read = ByteStreamBuffer(capacity: 100, limit: 1000) {}
        read.append([1])
        #expect(try await read.next() == [1])
        produced = 0
        while read.hasRoom(extended: true) {
            read.append([UInt8](repeating: 1, count: 100))
            produced += 100
        }
        #expect(produced == 100)
        #expect(read.verdictWhileEndAwaited != .failWaiters)
    }

    @Test("a reader that starts waiting wakes the producer once asked to; failing its wait leaves the stream open")
    func wakeAndFailWaiter() async throws {
        let demands = Mutex(0)
        let buffer = ByteStreamBuffer(capacity: 100) { demands.withLock { $0 += 1 } }
        #expect(!buffer.wakeProducerWhenWaited())  // nobody waits yet: armed
        struct Stuck: Error {}
        let waiting = Task { try await buffer.next() }
        try await waitUntil("a waiting reader") { buffer.hasWaitingReader }
        #expect(demands.withLock { $0 } == 1)
        #expect(buffer.wakeProducerWhenWaited())  // a reader waits now
        buffer.failWaitingReader(Stuck())
        await #expect(throws: Stuck.self) { try await waiting.value }
        buffer.append([5])
        #expect(try await buffer.next() == [5])
    }
}

/// The unread-output rule as a table: a stream's state and whether the channel's end is awaited, and the verdict.
@Suite("Unread output rule")
struct UnreadOutputRuleTests {
    typealias Row = (buffered: Int, everRead: Bool, ended: Bool, endAwaited: Bool, verdict: UnreadOutputRule.Verdict)

    /// Capacity 100, limit 1000.
    static let table: [Row] = [
        (0, false, false, false, .read),
        (99, false, false, false, .read),
        (100, false, false, false, .pause),  // full, nobody waits for the end: the window throttles
        (100, false, false, true, .read),  // full but unread and the end awaited: may grow
        (999, false, false, true, .read),
        (1000, false, false, true, .failWaiters),  // at the limit unread, the end awaited: waiters fail
        (1000, false, false, false, .pause),  // nobody waits: just paused
        (100, true, false, true, .pause),  // a stream with a reader goes at the reader's pace
        (1000, true, false, true, .pause),
        (50, true, false, false, .read),
        (0, false, true, true, .pause),  // ended: nothing more is read
        (1000, false, true, true, .pause),
    ]

    @Test("each stream state and awaited end gives its verdict", arguments: table.indices)
    func verdict(row: Int) {
        let entry = Self.table[row]
        let stream = UnreadOutputRule.Stream(buffered: entry.buffered, everRead: entry.everRead, ended: entry.ended)
        #expect(
            UnreadOutputRule.verdict(stream, capacity: 100, limit: 1000, endAwaited: entry.endAwaited) == entry.verdict)
    }
}
