import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps the promise that a loop thread never blocks: in debug builds, once enabled, the loop times every I/O
/// handler, timer and handed-over task it runs, and each that held the thread over ``threshold`` is reported with
/// its name (the handler's activity, the timer's name, or the file and line that handed the task over); and every
/// call that may block, marked with ``blockingCall(_:)``, is reported whenever it is made on a loop thread.
///
/// What counts is the callback's own time: its CPU time, and time asleep in a call that blocked (the thread gave up
/// its CPU of its own accord: `getrusage`'s voluntary switches). Time it was runnable but had no CPU (another
/// process had it, in `/proc/thread-self/schedstat`; or, in a virtual machine, the host took it) is not the
/// callback's fault and is left out. Release builds compile it out.
package enum LoopWatchdog {
    /// How long a callback may hold its loop thread.
    package static let threshold: Duration = .milliseconds(10)

    private static let enabled = Atomic<Bool>(false)
    private static let found = Mutex<[String]>([])

    /// What the callback running on a loop thread said of itself, to name in a report.
    private struct Notes {
        /// What it is about (a connection and its phase, a task's host).
        var context: String?
        /// The blocking call it made on purpose (``knownBlockingCall(_:_:)``).
        var knownCall: String?
    }

    /// The notes of the callback running on each loop thread, by thread.
    private static let notes = Mutex<[UInt: Notes]>([:])

    /// Names what the running callback is about (a task's host), for a report of it. Costs nothing when off.
    package static func describe(_ context: @autoclosure () -> String) {
        guard isActive else { return }
        let text = context()
        notes.withLock { $0[UInt(pthread_self()), default: Notes()].context = text }
    }

    /// Keeps `report` and writes it to standard error.
    private static func record(_ report: String) {
        found.withLock { $0.append(report) }
        let line = Array("loop watchdog: \(report)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The loop threads of the process.
    private static let loopThreads = Mutex<Set<UInt>>([])

    /// Notes the calling thread as a loop thread (each loop, once, as it starts).
    static func registerLoopThread() {
        _ = loopThreads.withLock { $0.insert(UInt(pthread_self())) }
    }

    /// Marks a call that may block (a file read, a process, a name lookup, the agent's connect): made on a loop
    /// thread while the watchdog is on, it is reported whatever it took, with `name` and what the callback is about.
    /// Such calls belong on the blocking pools; this is how the promise is checked without waiting for one to be slow.
    package static func blockingCall(_ name: @autoclosure () -> String) {
        guard isActive else { return }
        let thread = UInt(pthread_self())
        guard loopThreads.withLock({ $0.contains(thread) }) else { return }
        let context = notes.withLock { $0[thread]?.context }
        record("blocking call on a loop thread: \(name())\(context.map { " (\($0))" } ?? "")")
    }

    /// Runs `body`, a blocking call made on a loop on purpose (an agent signature: the C libraries sign
    /// synchronously), naming it in any report of the callback it runs in.
    package static func knownBlockingCall<T>(_ name: String, _ body: () -> T) -> T {
        guard isActive else { return body() }
        notes.withLock { $0[UInt(pthread_self()), default: Notes()].knownCall = name }
        return body()
    }

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
        let cpu: UInt64
        let voluntarySwitches: Int
        let queued: UInt64?

        /// Reports the callback named by `name` if it held the thread over the threshold: computing (on a CPU) or
        /// asleep in a call that blocked (the thread gave up its CPU). Time the thread was runnable but had no CPU
        /// (another process had it, or, in a virtual machine, the host took it: steal) is nobody's call.
        func check(_ name: () -> String) {
            let wall = MonotonicClock.now &- self.wall
            let limit = LoopWatchdog.threshold.nanoseconds
            guard wall > limit else { return }
            let waited = (LoopWatchdog.schedstatQueued() ?? 0) &- (queued ?? 0)
            let cpu = LoopWatchdog.threadCPU() &- self.cpu
            let blocked = LoopWatchdog.voluntarySwitches() > voluntarySwitches
            let asleep = blocked && wall > waited &+ cpu ? wall - waited - cpu : 0
            guard cpu > limit || asleep > limit else { return }
            let notes = LoopWatchdog.notes.withLock { $0[UInt(pthread_self())] } ?? Notes()
            LoopWatchdog.record(
                "\(name())\(notes.context.map { " (\($0))" } ?? "") held the loop "
                    + "\((cpu + asleep) / 1_000_000) ms (\(cpu / 1_000_000) ms computing, \(asleep / 1_000_000) ms asleep in a "
                    + "blocking call or a lock\(notes.knownCall.map { ": \($0)" } ?? ""))")
        }
    }

    /// Starts timing a callback, or `nil` when the watchdog is off (one relaxed load).
    @inline(__always)
    static func start() -> Watch? {
        guard isActive else { return nil }
        notes.withLock { $0[UInt(pthread_self())] = nil }
        return Watch(
            wall: MonotonicClock.now, cpu: threadCPU(), voluntarySwitches: voluntarySwitches(),
            queued: schedstatQueued())
    }

    /// How often this thread gave up its CPU of its own accord (blocked in a call) so far.
    static func voluntarySwitches() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return usage.ru_nvcsw
    }

    /// This thread's CPU time, in nanoseconds (exact, unlike schedstat's, which is brought up to date only at
    /// scheduler events).
    static func threadCPU() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Nanoseconds this thread has waited runnable for a CPU (schedstat's second field).
    static func schedstatQueued() -> UInt64? {
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
