/// A value that may only be touched on one event loop's thread, carried across threads safely.
///
/// The NIOLoopBound pattern: the box is `Sendable`, but reading ``value`` off the loop traps. Use
/// ``withContinuation(_:)`` to hop onto the loop from async code.
package struct LoopBound<Value: AnyObject>: @unchecked Sendable {
    /// The loop that owns the value.
    package let loop: EventLoop
    private let _value: Value

    /// Wraps `value`; call on `loop`'s thread.
    package init(_ value: Value, loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self._value = value
    }

    /// The value. Loop thread only.
    package var value: Value {
        loop.preconditionInEventLoop()
        return _value
    }

    /// Runs `body` on the loop with the value and a continuation, and suspends until `body` (or something it
    /// handed the continuation to) resumes it.
    package func withContinuation<T>(
        _ body: @escaping @Sendable (Value, CheckedContinuation<T, any Error>) -> Void
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            loop.execute { body(self.value, continuation) }
        }
    }

    /// Runs `body` on the loop with the value, without waiting.
    package func execute(_ body: @escaping @Sendable (Value) -> Void) {
        loop.execute { body(self.value) }
    }
}
