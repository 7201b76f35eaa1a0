import SSHEventLoop
import Synchronization
import Testing

@Suite("Event loop", .timeLimit(.minutes(1)))
struct EventLoopTests {
    @Test("timers fire in deadline order, whatever order they were scheduled in; a cancelled one never fires")
    func timerOrder() async throws {
        let fired = Mutex<[Int]>([])
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            testLoop.execute {
                for (index, delay) in [(3, 60), (1, 20), (2, 40)] {
                    testLoop.scheduleTimer(after: .milliseconds(delay)) { fired.withLock { $0.append(index) } }
                }
                let cancelled = testLoop.scheduleTimer(after: .milliseconds(30)) { fired.withLock { $0.append(99) } }
                testLoop.cancelTimer(cancelled)
                testLoop.scheduleTimer(after: .milliseconds(90)) { done.resume() }
            }
        }
        #expect(fired.withLock { $0 } == [1, 2, 3])
    }

    @Test("a timer waits at least its delay (the loop sleeps in epoll_wait until then, no polling)")
    func timerDelay() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            testLoop.execute { testLoop.scheduleTimer(after: .milliseconds(50)) { done.resume() } }
        }
        #expect(clock.now - start >= .milliseconds(50))
    }

    @Test("work handed over from many threads all runs, on the loop thread, in order per sender")
    func execute() async throws {
        final class Record: Sendable {
            let seen = Mutex<[Int: [Int]]>([:])
            let allOnLoop = Mutex(true)
        }
        let record = Record()
        await withTaskGroup(of: Void.self) { group in
            for sender in 0..<8 {
                group.addTask {
                    for value in 0..<200 {
                        testLoop.execute {
                            if !testLoop.inEventLoop { record.allOnLoop.withLock { $0 = false } }
                            record.seen.withLock { $0[sender, default: []].append(value) }
                        }
                    }
                }
            }
        }
        _ = try await onLoop { 0 }  // everything queued before this has run
        #expect(record.allOnLoop.withLock { $0 })
        let all = record.seen.withLock { $0 }
        #expect(all.count == 8)
        for (_, values) in all { #expect(values == Array(0..<200)) }
    }

    @Test("cancelled timers do not pile up in the heap until their deadlines: it follows the live timers")
    func cancelledTimersCompacted() async throws {
        let counts = try await onLoop { () -> [Int] in
            let live = (0..<100).map { _ in testLoop.scheduleTimer(after: .seconds(3600)) {} }
            for _ in 0..<20_000 {
                testLoop.cancelTimer(testLoop.scheduleTimer(after: .seconds(3600)) {})
            }
            let afterChurn = testLoop.timerHeapCount
            for id in live { testLoop.cancelTimer(id) }
            return [afterChurn, testLoop.timerHeapCount]
        }
        #expect(counts[0] <= 2 * 100 + 257, "20,000 cancelled timers left \(counts[0]) heap entries beside 100 live ones")
        #expect(counts[1] <= 257, "\(counts[1]) entries left with no live timer")
    }
}
