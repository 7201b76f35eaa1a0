import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the promise that a loop thread never blocks: in debug builds, once enabled, the loop times every I/O
/// handler, timer and handed-over task it runs, and each that held the thread over ``threshold`` is reported with
/// its name (the handler's type, the timer's name, or the file and line that handed the task over).
///
/// Time spent waiting for a CPU (another process had it: a loaded machine) is not the callback's fault and is
/// taken off, from the thread's run-queue wait in `/proc/thread-self/schedstat`; what is left is time the callback
/// ran or slept in a blocking call. Release builds compile it out.
package enum LoopWatchdog {
    /// How long a callback may hold its loop thread.
    package static let threshold: Duration = .milliseconds(10)

    private static let enabled = Atomic<Bool>(false)
    private static let found = Mutex<[String]>([])

    /// Starts timing callbacks (debug builds; a no-op in release builds).
    package static func enable() {
        #if DEBUG
        enabled.store(true, ordering: .relaxed)
        #endif
    }

    /// Stops timing callbacks.
    package static func disable() { enabled.store(false, ordering: .relaxed) }

    /// Whether callbacks are timed: enabled, in a debug build.
    package static var isActive: Bool {
        #if DEBUG
        enabled.load(ordering: .relaxed)
        #else
        false
        #endif
    }

    /// Every report so far ("timer operation deadline held the loop 12 ms"), oldest first.
    package static var reports: [String] { found.withLock { $0 } }

    /// Forgets the reports so far.
    package static func clearReports() { found.withLock { $0.removeAll() } }

    /// A callback being timed.
    struct Watch {
        let wall: UInt64
        let queued: UInt64?

        /// Reports the callback named by `name` if it held the thread over the threshold.
        func check(_ name: () -> String) {
            let held = LoopWatchdog.held(since: self)
            guard held > LoopWatchdog.threshold.nanoseconds else { return }
            let report = "\(name()) held the loop \(held / 1_000_000) ms"
            LoopWatchdog.found.withLock { $0.append(report) }
            let line = Array("loop watchdog: \(report)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }

    /// Starts timing a callback, or `nil` when the watchdog is off (one relaxed load).
    @inline(__always)
    static func start() -> Watch? {
        guard isActive else { return nil }
        return Watch(wall: MonotonicClock.now, queued: runQueueWait())
    }

    static func held(since watch: Watch) -> UInt64 {
        let wall = MonotonicClock.now &- watch.wall
        guard let before = watch.queued, let after = runQueueWait(), after >= before else { return wall }
        let waited = after - before
        return wall > waited ? wall - waited : 0
    }

    /// Nanoseconds this thread has spent runnable but waiting for a CPU (schedstat's second field).
    private static func runQueueWait() -> UInt64? {
        let fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 96)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
        guard fields.count >= 2 else { return nil }
        return UInt64(fields[1])
    }
}
