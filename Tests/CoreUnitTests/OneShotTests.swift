import SSHEventLoop
import SSHTestSupport
import Synchronization
import Testing

@Suite("One-shot result", .timeLimit(.minutes(10)))
struct OneShotTests {
    @Test("every waiter gets the result; later settlements are ignored")
    func manyWaiters() async throws {
        let shot = OneShot<Int>()
        async let first = shot.value()
        async let second = shot.value()
        try await waitUntil("two waiters") { shot.waiterCount == 2 }
        shot.settle(.success(5))
        shot.settle(.success(6))
        #expect(try await first == 5)
        #expect(try await second == 5)
        #expect(try await shot.value() == 5, "a waiter after the fact gets it at once")
    }

    @Test("a cancelled waiter leaves with CancellationError; the others still get the result")
    func cancelledWaiter() async throws {
        let shot = OneShot<Int>()
        let others = Mutex<[Bool]>([])
        let leaving = Task { try await shot.value { othersWaiting in others.withLock { $0.append(othersWaiting) } } }
        let staying = Task { try await shot.value() }
        try await waitUntil("two waiters") { shot.waiterCount == 2 }
        leaving.cancel()
        await #expect(throws: CancellationError.self) { try await leaving.value }
        #expect(others.withLock { $0 } == [true])
        shot.settle(.success(1))
        #expect(try await staying.value == 1)
    }
}
