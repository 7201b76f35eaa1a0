#if canImport(Glibc)
    import Glibc
#endif

/// The time an ``EventLoop`` schedules its timers on: the machine's monotonic clock, or a ``ManualClock`` that
/// only moves when a test advances it (as swift-nio's `EmbeddedEventLoop.advanceTime`).
package enum LoopClock: Sendable {
    /// `CLOCK_MONOTONIC`, the default.
    case monotonic
    /// Time that stands still until ``ManualClock/advance(by:)``.
    case manual(ManualClock)

    /// Nanoseconds since an arbitrary fixed point.
    package var now: UInt64 {
        switch self {
        case .monotonic: MonotonicClock.now
        case .manual(let clock): clock.nowNanoseconds
        }
    }
}

/// Monotonic nanoseconds.
package enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point.
    package static var now: UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `0...UInt64.max`.
    package var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (ns, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : ns &+ UInt64(attoseconds / 1_000_000_000)
    }
}
