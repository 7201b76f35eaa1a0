/// The time that code above the loops waits on (retry delays, join and read timeouts, the prompt batch window):
/// Swift's continuous clock, or a test's ``ManualClock``, chosen for a task and its children with
/// ``WaitClock/$current``:
///
/// ```swift
/// try await WaitClock.$current.withValue(.manual(clock)) { try await client.run(...) }
/// ```
package struct WaitClock: Sendable {
    private let elapsed: @Sendable () -> Duration
    private let sleeper: @Sendable (_ until: Duration) async throws -> Void

    /// The clock of the current task: ``continuous`` unless a test chose otherwise.
    @TaskLocal package static var current = WaitClock.continuous

    /// Swift's `ContinuousClock`.
    package static let continuous: WaitClock = {
        let origin = ContinuousClock.now
        return WaitClock(
            elapsed: { ContinuousClock.now - origin },
            sleeper: { try await Task.sleep(until: origin + $0, clock: .continuous) })
    }()

    /// A test's manual clock.
    package static func manual(_ clock: ManualClock) -> WaitClock {
        WaitClock(elapsed: { clock.now.offset }, sleeper: { try await clock.sleep(until: .init(offset: $0)) })
    }

    /// Time since the clock's origin; instants are compared and subtracted as durations.
    package var now: Duration { elapsed() }

    /// Suspends for `duration` (a non-positive one returns at once). Cancellation throws `CancellationError`.
    package func sleep(for duration: Duration) async throws {
        try await sleep(until: now + duration)
    }

    /// Suspends until `instant` (a value of ``now``): a deadline fixed when it was computed, however late the
    /// sleep starts.
    package func sleep(until instant: Duration) async throws {
        try Task.checkCancellation()
        guard instant > now else { return }
        try await sleeper(instant)
    }
}
