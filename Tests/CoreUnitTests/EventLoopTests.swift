import Foundation
import Glibc
import SSHEventLoop
import Synchronization
import Testing

@Suite("Event loop", .timeLimit(.minutes(10)))
struct EventLoopTests {
    @Test(
        "with the loops' executor preferred, a task resumed by a loop goes on on that loop's thread; resumed elsewhere, on Swift's pool; without it, off the loops"
    )
    func loopTaskExecutor() async throws {
        let otherLoop = EventLoop(name: "other-loop")
        /// Which loop's thread the task is on after a continuation resumed by `loop` (or by a plain thread). The
        /// resume comes 20 ms after the task asked for it: a continuation resumed before its task has suspended lets
        /// the task go on where it was, which would say nothing about the executor.
        @Sendable func resumed(by loop: EventLoop?) async -> EventLoop? {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if let loop {
                    loop.execute {
                        _ = loop.scheduleTimer(after: .milliseconds(20), name: "resume") { continuation.resume() }
                    }
                } else {
                    Thread.detachNewThread {
                        usleep(20_000)
                        continuation.resume()
                    }
                }
            }
            return EventLoop.current
        }
        // A loaded machine may still let a resume overtake the suspension: a trial landing elsewhere is run again,
        // a few times; an executor that never keeps the task on the loop fails every trial.
        var landed: [EventLoop?] = []
        for _ in 0..<10 {
            landed = await Task(executorPreference: LoopTaskExecutor.shared) {
                [await resumed(by: testLoop), await resumed(by: otherLoop), await resumed(by: nil)]
            }.value
            if landed[0] === testLoop && landed[1] === otherLoop { break }
        }
        #expect(
            landed[0] === testLoop && landed[1] === otherLoop && landed[2] == nil,
            "\(landed.map { $0 === testLoop ? "test" : $0 === otherLoop ? "other" : $0 == nil ? "none" : "?" })")
        let plain = await Task { [await resumed(by: testLoop), await resumed(by: otherLoop)] }.value
        #expect(plain[0] == nil && plain[1] == nil)
    }

    @Test("on a manual clock, timers fire exactly at their deadlines, in deadline order; a cancelled one never fires")
    func timerOrder() async throws {
        let clock = ManualClock()
        let loop = EventLoop(name: "manual-loop", clock: .manual(clock))
        let fired = Mutex<[Int]>([])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                loop.scheduleTimer(after: .milliseconds(60), name: "third") { fired.withLock { $0.append(3) } }
                loop.scheduleTimer(after: .milliseconds(20), name: "first") { fired.withLock { $0.append(1) } }
                loop.scheduleTimer(after: .milliseconds(40), name: "second") { fired.withLock { $0.append(2) } }
                let cancelled = loop.scheduleTimer(after: .milliseconds(30), name: "cancelled") {
                    fired.withLock { $0.append(99) }
                }
                loop.cancelTimer(cancelled)
                done.resume()
            }
        }
        #expect(await clock.advance(by: .milliseconds(19)) == [])
        #expect(await clock.advance(by: .milliseconds(1)) == ["first"])
        #expect(await clock.advance(by: .milliseconds(19)) == [])
        // One advance across two deadlines stops at each.
        #expect(await clock.advance(by: .milliseconds(100)) == ["second", "third"])
        #expect(fired.withLock { $0 } == [1, 2, 3])
        #expect(clock.now.offset == .milliseconds(139))
    }

    @Test("a timer that re-arms itself fires once per period when time jumps past several periods")
    func periodicTimer() async throws {
        let clock = ManualClock()
        let loop = EventLoop(name: "manual-loop", clock: .manual(clock))
        final class Ticker: Sendable {
            let loop: EventLoop
            let clock: ManualClock
            let ticks = Mutex<[Duration]>([])
            init(loop: EventLoop, clock: ManualClock) {
                self.loop = loop
                self.clock = clock
            }
            func arm() {
                loop.scheduleTimer(after: .seconds(1), name: "tick") { [self] in
                    ticks.withLock { $0.append(clock.now.offset) }
                    arm()
                }
            }
        }
        let ticker = Ticker(loop: loop, clock: clock)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                ticker.arm()
                done.resume()
            }
        }
        #expect(await clock.advance(by: .milliseconds(3500)) == ["tick", "tick", "tick"])
        #expect(ticker.ticks.withLock { $0 } == [.seconds(1), .seconds(2), .seconds(3)])
    }

    @Test(
        "a task sleeping on the manual clock wakes when time reaches its deadline, not before; cancelling it ends the sleep"
    )
    func manualSleep() async throws {
        let clock = ManualClock()
        let woke = Mutex<Duration?>(nil)
        let sleeper = Task {
            try await clock.sleep(for: .seconds(5))
            woke.withLock { $0 = clock.now.offset }
        }
        await clock.waitForSleepers(1)
        await clock.advance(by: .milliseconds(4999))
        #expect(clock.sleeperCount == 1)
        await clock.advance(by: .milliseconds(1))
        try await sleeper.value
        #expect(woke.withLock { $0 } == .seconds(5))

        let cancelled = Task { try await clock.sleep(for: .seconds(1)) }
        await clock.waitForSleepers(1)
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test("a timer waits at least its delay (the loop sleeps in epoll_wait until then, no polling)")
    func timerDelay() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            testLoop.execute { testLoop.scheduleTimer(after: .milliseconds(50), name: "test") { done.resume() } }
        }
        #expect(clock.now - start >= .milliseconds(50))
    }

    @Test("a loop thread blocks asynchronous signals (a handler there would interrupt the C libraries' poll calls)")
    func signalsBlocked() async throws {
        let blocked = try await onLoop { () -> [Int32] in
            var set = EventLoop.blockedSignals()
            return [SIGCHLD, SIGINT, SIGTERM, SIGALRM, SIGSEGV].filter { sigismember(&set, $0) == 1 }
        }
        #expect(blocked == [SIGCHLD, SIGINT, SIGTERM, SIGALRM], "SIGSEGV must stay deliverable")
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
            let live = (0..<100).map { _ in testLoop.scheduleTimer(after: .seconds(3600), name: "test") {} }
            for _ in 0..<20_000 {
                testLoop.cancelTimer(testLoop.scheduleTimer(after: .seconds(3600), name: "test") {})
            }
            let afterChurn = testLoop.timerHeapCount
            for id in live { testLoop.cancelTimer(id) }
            return [afterChurn, testLoop.timerHeapCount]
        }
        #expect(
            counts[0] <= 2 * 100 + 257, "20,000 cancelled timers left \(counts[0]) heap entries beside 100 live ones")
        #expect(counts[1] <= 257, "\(counts[1]) entries left with no live timer")
    }
}
