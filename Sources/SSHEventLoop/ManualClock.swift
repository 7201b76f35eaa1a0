import Synchronization

/// Time that moves only when a test says so: the clock of a test's event loops (``LoopClock/manual(_:)``) and,
/// as a Swift `Clock`, of the waits above them (retry delays, join and read timeouts).
///
/// ``advance(by:)`` walks time forward from deadline to deadline, so a timer that re-arms itself (a keepalive)
/// fires once per period, in order, and every sleeper whose deadline passed wakes; it returns the names of the loop
/// timers that fired. A test thereby sees an 800 ms deadline fire at exactly 800 ms, however loaded the machine is.
package final class ManualClock: Clock, Sendable {
    /// A point on the manual time line: the time advanced since the clock was made.
    package struct Instant: InstantProtocol, Sendable {
        /// Time since the clock was made.
        package var offset: Duration

        /// `offset + duration`.
        package func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        /// `other - self`.
        package func duration(to other: Instant) -> Duration { other.offset - offset }
        /// Earlier on the time line.
        package static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
        var loops: [EventLoop] = []
        var fired: [String] = []
        var sleeperWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// A clock at offset zero.
    package init() {}

    /// The current instant.
    package var now: Instant { state.withLock { $0.now } }

    /// One nanosecond.
    package var minimumResolution: Duration { .nanoseconds(1) }

    /// Nanoseconds since the clock was made (the loops' time base).
    var nowNanoseconds: UInt64 { state.withLock { $0.now.offset.nanoseconds } }

    /// Suspends until the clock is advanced to `deadline` (at once if it already is). Cancellation ends the wait
    /// with `CancellationError`.
    package func sleep(until deadline: Instant, tolerance _: Duration? = nil) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, waiters) = state.withLock {
                    state -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    if state.cancelled.remove(id) != nil { return (.failure(CancellationError()), []) }
                    if deadline <= state.now { return (.success(()), []) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return (nil, Self.satisfiedWaiters(&state))
                }
                if let outcome { continuation.resume(with: outcome) }
                for waiter in waiters { waiter.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Suspends until at least `count` tasks sleep on this clock (a test's way to know the code under test is
    /// waiting, with no real-time sleep).
    package func waitForSleepers(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.sleepers.count >= count { return true }
                state.sleeperWaiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Tasks sleeping on this clock now.
    package var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves time forward by `duration`, stopping at every deadline on the way (each loop timer and each sleeper,
    /// in order), and returns the names of the loop timers that fired. Loop timers have run when this returns;
    /// woken sleepers have been resumed (their tasks run when the executor gets to them).
    @discardableResult
    package func advance(by duration: Duration) async -> [String] {
        let target = state.withLock { $0.now.advanced(by: duration) }
        while true {
            var next = target
            for loop in state.withLock({ $0.loops }) {
                if let deadline = await loop.nextTimerDeadline(), deadline < next.offset.nanoseconds {
                    next = Instant(offset: .nanoseconds(deadline))
                }
            }
            let (sleepers, loops) = state.withLock { state -> ([Sleeper], [EventLoop]) in
                if let first = state.sleepers.map(\.deadline).min(), first < next { next = first }
                if state.now < next { state.now = next }
                let due = state.sleepers.filter { $0.deadline <= state.now }.sorted { $0.deadline < $1.deadline }
                state.sleepers.removeAll { $0.deadline <= state.now }
                return (due, state.loops)
            }
            for sleeper in sleepers { sleeper.continuation.resume() }
            for loop in loops { await loop.runExpiredTimersNow() }
            if next >= target { break }
        }
        return state.withLock { state in
            defer { state.fired.removeAll() }
            return state.fired
        }
    }

    /// Registers a loop whose timers run on this clock.
    func attach(_ loop: EventLoop) {
        state.withLock { $0.loops.append(loop) }
    }

    /// Notes a loop timer that fired (loop thread).
    func recordFired(_ name: StaticString) {
        state.withLock { $0.fired.append("\(name)") }
    }

    private static func satisfiedWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        let count = state.sleepers.count
        let ready = state.sleeperWaiters.filter { $0.count <= count }.map(\.continuation)
        state.sleeperWaiters.removeAll { $0.count <= count }
        return ready
    }
}
