import SSHEventLoop

/// One loop for every unit test in the process (loops live as long as the process).
let testLoop = EventLoop(name: "unit-loop")

/// Runs `body` on the test loop and returns its result.
func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        testLoop.execute { continuation.resume(with: Result { try body() }) }
    }
}

/// A value shared between a test and the loop: set on one, read on the other after a hop.
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
