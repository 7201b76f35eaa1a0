import Synchronization

/// Links a waiter registered on an event loop with a task-cancellation handler, whichever runs first.
///
/// The loop calls ``register(_:)`` after registering; the cancellation handler calls ``cancel()``. Exactly one
/// of them learns it must remove the waiter: `register` returns `true` if cancellation came first, `cancel`
/// returns the id if registration came first.
package final class WaiterID: Sendable {
    private struct State {
        var id: UInt64?
        var cancelled = false
    }

    private let state = Mutex(State())

    package init() {}

    /// Records the waiter's id; returns `true` when the task was already cancelled (remove it now).
    package func register(_ id: UInt64) -> Bool {
        state.withLock { state in
            state.id = id
            return state.cancelled
        }
    }

    /// Marks the task cancelled; returns the id to remove if the waiter was already registered.
    package func cancel() -> UInt64? {
        state.withLock { state in
            state.cancelled = true
            return state.id
        }
    }
}
