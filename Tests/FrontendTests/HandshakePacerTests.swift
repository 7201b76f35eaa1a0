import SSHTestSupport
import Testing

@testable import ParallelFrontend

/// The per-destination window on its own: halving when a destination turns a handshake away, growing back with
/// completed ones, and releasing waiters only as far as the window allows.
@Suite("Handshake pacing", .timeLimit(.minutes(10)))
struct HandshakePacerTests {
    @Test("a window starts at 10, halves per connection turned away (never below 1), grows by 1/window per success")
    func aimd() async throws {
        let pacer = HandshakePacer(ceiling: 64)
        #expect(pacer.window("a:22") == 10)
        for _ in 0..<3 {
            try await pacer.acquire("a:22")
            pacer.release("a:22", turnedAway: true, completed: false)
        }
        #expect(pacer.window("a:22") == 1.25)
        for _ in 0..<5 {
            try await pacer.acquire("a:22")
            pacer.release("a:22", turnedAway: true, completed: false)
        }
        #expect(pacer.window("a:22") == 1)
        try await pacer.acquire("a:22")
        pacer.release("a:22", turnedAway: false, completed: true)
        #expect(pacer.window("a:22") == 2)
        #expect(pacer.window("b:22") == 10, "other destinations keep their own window")
    }

    @Test("waiters beyond the window wait, and a shrunken window lets fewer through")
    func waiters() async throws {
        let pacer = HandshakePacer(ceiling: 2)
        try await pacer.acquire("a:22")
        try await pacer.acquire("a:22")
        let third = Task { try await pacer.acquire("a:22") }
        try await waitUntil("the third caller queued") { pacer.waiting("a:22") == 1 }
        // Turned away: the window halves to 1 with one handshake still running, so the waiter stays queued.
        pacer.release("a:22", turnedAway: true, completed: false)
        #expect(pacer.window("a:22") == 1)
        #expect(pacer.waiting("a:22") == 1, "a halved window let the waiter through")
        pacer.release("a:22", turnedAway: false, completed: false)
        try await third.value  // now it runs
        pacer.release("a:22", turnedAway: false, completed: true)
    }

    @Test("a waiter whose task is cancelled leaves with CancellationError")
    func cancelled() async throws {
        let pacer = HandshakePacer(ceiling: 1)
        try await pacer.acquire("a:22")
        let waiter = Task { try await pacer.acquire("a:22") }
        try await waitUntil("the caller queued") { pacer.waiting("a:22") == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        pacer.release("a:22", turnedAway: false, completed: true)
    }
}
