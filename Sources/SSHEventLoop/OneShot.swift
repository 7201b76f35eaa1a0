import Synchronization

/// A result settled once, which any number of tasks can wait for; a waiter whose task is cancelled stops waiting
/// (with `CancellationError`) without disturbing the others. Thread-safe, never blocks a thread.
package final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [UInt64: CheckedContinuation<Value, any Error>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates an unsettled one-shot.
    package init() {}

    /// The result, once settled.
    package var result: Result<Value, any Error>? { state.withLock { $0.result } }

    /// Tasks waiting now (a test's way to know its waiters are in place).
    package var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Settles with `result` and resumes every waiter; later calls are ignored.
    package func settle(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            if state.result != nil { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Waits for the result. Throws the settled error, or `CancellationError` when the calling task is cancelled
    /// first (then `onCancel` runs, with whether any other task still waits).
    package func value(onCancel: @Sendable (_ othersWaiting: Bool) -> Void = { _ in }) async throws -> Value {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let settled = state.withLock { state -> Result<Value, any Error>? in
                    if let result = state.result { return result }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let settled { continuation.resume(with: settled) }
            }
        } onCancel: {
            let (waiter, others) = state.withLock { state in
                (state.waiters.removeValue(forKey: id), !state.waiters.isEmpty)
            }
            guard let waiter else { return }
            waiter.resume(throwing: CancellationError())
            onCancel(others)
        }
    }
}
