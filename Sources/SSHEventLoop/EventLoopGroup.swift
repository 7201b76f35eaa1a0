import CEventLoopShims
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A fixed set of ``EventLoop`` threads, one per core by default. Sessions are spread over them round-robin.
package final class EventLoopGroup: Sendable {
    /// The loops.
    package let loops: [EventLoop]
    private let counter = Atomic<Int>(0)

    /// Starts `threads` loops whose timers run on `clock`.
    package init(threads: Int, clock: LoopClock = .monotonic) {
        precondition(threads > 0)
        loops = (0..<threads).map { EventLoop(name: "ssh-loop-\($0)", clock: clock) }
    }

    /// The process-wide group (one loop per online core), started on first use and never stopped.
    package static let shared = EventLoopGroup(threads: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    /// The next loop, round-robin.
    package func next() -> EventLoop {
        loops[counter.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }
}
