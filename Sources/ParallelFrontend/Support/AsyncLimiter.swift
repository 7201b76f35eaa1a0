import Synchronization

/// Lets at most `limit` bodies run at once; the others wait in order (no thread blocks). A waiter whose task is
/// cancelled leaves the queue with `CancellationError` and takes no slot. The limit may change as slots are given
/// back (``release(adjustingLimit:)``), as ``HandshakePacer``'s windows do.
final class AsyncLimiter: Sendable {
    private struct State {
        var limit: Double
        var running = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>

    init(limit: Int) { state = Mutex(State(limit: Double(max(1, limit)))) }

    /// The current limit (fractional for a window that grows by fractions; `Int(limit)` slots are open).
    var limit: Double { state.withLock { $0.limit } }

    /// Callers waiting for a slot now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Waits for a slot; pair a successful return with ``release(adjustingLimit:)``.
    func acquire() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.running < max(1, Int(state.limit)) {
                        state.running += 1
                        return .success(())
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Gives the slot back, first changing the limit with `adjust` if given, then lets in as many waiters as the
    /// limit allows. Returns whether nothing runs or waits now.
    @discardableResult
    func release(adjustingLimit adjust: ((Double) -> Double)? = nil) -> Bool {
        let (ready, idle) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], Bool) in
            state.running -= 1
            if let adjust { state.limit = adjust(state.limit) }
            var ready: [CheckedContinuation<Void, any Error>] = []
            while state.running < max(1, Int(state.limit)), !state.waiters.isEmpty {
                state.running += 1
                ready.append(state.waiters.removeFirst().continuation)
            }
            return (ready, state.running == 0 && state.waiters.isEmpty)
        }
        for continuation in ready { continuation.resume() }
        return idle
    }
}
