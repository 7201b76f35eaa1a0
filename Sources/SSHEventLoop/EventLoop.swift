import CEventLoopShims
import SSHBackend
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Readiness reported to an ``IOHandler``.
package struct IOEvents: OptionSet, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The socket has data (or EOF) to read.
    package static let readable = IOEvents(rawValue: 1 << 0)
    /// The socket accepts writes.
    package static let writable = IOEvents(rawValue: 1 << 1)
    /// The peer closed its side, or the socket hung up.
    package static let hangup = IOEvents(rawValue: 1 << 2)
    /// The socket has a pending error.
    package static let error = IOEvents(rawValue: 1 << 3)
}

/// Something that owns a registered socket and is driven when it becomes ready. Called on the loop thread only.
package protocol IOHandler: AnyObject {
    /// The socket reported `events`.
    func handleIO(_ events: IOEvents)
    /// What the handler is doing now, for a ``LoopWatchdog`` report.
    var loopActivity: String { get }
}

extension IOHandler {
    /// The handler's type.
    package var loopActivity: String { "I/O handler \(type(of: self))" }
}

/// Identifies a registration. Never reused, so an event for a closed socket whose fd number was reused by a
/// newer registration is recognised as stale and dropped.
package struct RegistrationID: Hashable, Sendable {
    package let rawValue: UInt64
}

/// Identifies a scheduled timer, to cancel it.
package struct TimerID: Hashable, Sendable {
    package let rawValue: UInt64
}

/// One epoll reactor thread.
///
/// Sockets are registered once, edge-triggered, for reading and writing; each registration is owned by one
/// ``IOHandler`` that runs only on this thread, so native sessions need no locks. Other threads hand work over
/// with ``execute(_:)`` (a locked inbox plus an eventfd wake-up). Timers live in a heap whose next deadline is
/// `epoll_wait`'s timeout: there is no polling. Cancelled timers leave the heap lazily, and it is compacted once
/// they outnumber the live ones.
///
/// `@unchecked Sendable`: the mutable state below the inbox is touched only on the loop thread (checked with
/// ``preconditionInEventLoop()``); the inbox is a `Mutex`.
package final class EventLoop: @unchecked Sendable {
    private let epollFD: Int32
    private let wakeFD: Int32
    private let threadID = Atomic<UInt>(0)
    private let inbox = Mutex<Inbox>(Inbox())

    private struct Inbox {
        var tasks: [Submitted] = []
        var wakePending = false
    }

    /// A task handed over with ``execute(_:file:line:)``, and where it was handed over (the watchdog names it so).
    private struct Submitted {
        let task: @Sendable () -> Void
        let file: StaticString
        let line: UInt
    }

    /// The time the timers run on.
    package let clock: LoopClock

    // Loop-confined state.
    private var handlers: [UInt64: any IOHandler] = [:]
    private var nextRegistration: UInt64 = 1
    private var timers = TimerHeap()
    private var timerCallbacks: [UInt64: (name: StaticString, callback: () -> Void)] = [:]
    private var nextTimer: UInt64 = 1

    /// A scratch buffer for native reads, shared by every session on this loop (loop thread only).
    package let scratch: UnsafeMutableRawBufferPointer

    /// Size of ``scratch``.
    package static let scratchSize = 64 * 1024

    /// Starts a loop thread named `name`, whose timers run on `clock`.
    package init(name: String, clock: LoopClock = .monotonic) {
        self.clock = clock
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed: errno \(errno)")
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: errno \(errno)")
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0)

        let box = Unmanaged.passRetained(ThreadStart(loop: self, name: name)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
                start.loop.run(name: start.name)
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
        ProcessExitGuard.add(self)
        if case .manual(let manual) = clock { manual.attach(self) }
    }

    private final class ThreadStart {
        let loop: EventLoop
        let name: String
        init(loop: EventLoop, name: String) {
            self.loop = loop
            self.name = name
        }
    }

    /// Whether the caller runs on this loop's thread.
    package var inEventLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    /// Traps unless called on the loop thread.
    package func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inEventLoop, "must run on the event loop thread", file: file, line: line)
    }

    /// Runs `task` on the loop thread, soon (never inline, even when called from the loop). `file` and `line` name
    /// it in a ``LoopWatchdog`` report.
    package func execute(file: StaticString = #fileID, line: UInt = #line, _ task: @escaping @Sendable () -> Void) {
        let mustWake = inbox.withLock { inbox -> Bool in
            inbox.tasks.append(Submitted(task: task, file: file, line: line))
            if inbox.wakePending { return false }
            inbox.wakePending = true
            return true
        }
        if mustWake && !inEventLoop { wakeUp() }
    }

    /// Interrupts `epoll_wait` (the process is exiting, or a task was queued).
    func wakeUp() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Registers `fd` edge-triggered for reading and writing; `handler` is driven on each readiness edge.
    /// Loop thread only. The handler is retained until ``deregister(fd:_:)``.
    package func register(fd: Int32, handler: any IOHandler) throws(SSHError) -> RegistrationID {
        preconditionInEventLoop()
        let id = nextRegistration
        nextRegistration += 1
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        event.data.u64 = id
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            let code = errno
            throw SSHError(
                .resourceExhausted, message: "cannot watch socket: \(String(cString: strerror(code)))",
                nativeCode: code)
        }
        handlers[id] = handler
        return RegistrationID(rawValue: id)
    }

    /// Stops watching `fd` and releases its handler. Call before closing the fd. Loop thread only.
    package func deregister(fd: Int32, _ id: RegistrationID) {
        preconditionInEventLoop()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        handlers[id.rawValue] = nil
    }

    /// Calls `callback` on the loop thread after `delay` on the loop's ``clock``. `name` says what the timer is for
    /// (``ManualClock/advance(by:)`` and the ``LoopWatchdog`` report it). Loop thread only.
    @discardableResult
    package func scheduleTimer(after delay: Duration, name: StaticString, _ callback: @escaping () -> Void) -> TimerID {
        preconditionInEventLoop()
        let id = nextTimer
        nextTimer += 1
        timers.push(deadline: clock.now &+ delay.nanoseconds, id: id)
        timerCallbacks[id] = (name, callback)
        return TimerID(rawValue: id)
    }

    /// Cancels a timer; a no-op if it already fired. Loop thread only.
    ///
    /// The heap keeps a cancelled timer's entry until its deadline (an operation's deadline is often minutes away
    /// and cancelled within milliseconds), so once cancelled entries outnumber live ones the heap is compacted:
    /// its size follows the timers alive, not how many were ever set within the longest deadline.
    package func cancelTimer(_ id: TimerID) {
        preconditionInEventLoop()
        guard timerCallbacks.removeValue(forKey: id.rawValue) != nil else { return }
        if timers.count > 2 * timerCallbacks.count + 256 {
            let live = timerCallbacks
            timers.compact { live[$0] != nil }
        }
    }

    /// Entries in the timer heap, cancelled ones not yet dropped included (loop thread only; for tests).
    package var timerHeapCount: Int { timers.count }

    /// The earliest live timer's deadline on the ``clock``, if any (from any thread: asks the loop).
    func nextTimerDeadline() async -> UInt64? {
        await withCheckedContinuation { continuation in
            execute { continuation.resume(returning: self.liveTopDeadline()) }
        }
    }

    /// Runs the timers that expired on the ``clock`` now, on the loop, and returns once they have run (a
    /// ``ManualClock`` calls this after moving time).
    func runExpiredTimersNow() async {
        await withCheckedContinuation { continuation in
            execute {
                self.runExpiredTimers()
                continuation.resume()
            }
        }
    }

    private func liveTopDeadline() -> UInt64? {
        while let top = timers.peek() {
            if timerCallbacks[top.id] != nil { return top.deadline }
            _ = timers.pop()
        }
        return nil
    }

    // MARK: The loop

    private func run(name: String) {
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        markCurrentThread()
        LoopWatchdog.registerLoopThread()
        Self.blockAsynchronousSignals()
        _ = ceventloop_set_thread_name(String(name.prefix(15)))
        let capacity = 512
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        while true {
            if ProcessExitGuard.isExiting { ProcessExitGuard.park() }
            let timeout = nextTimeoutMilliseconds()
            let count = epoll_wait(epollFD, events, Int32(capacity), timeout)
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait failed: errno \(errno)")
            }
            for index in 0..<Int(count) {
                let event = events[index]
                let id = event.data.u64
                if id == 0 {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                // A handler deregistered earlier in this batch is gone: its stale event is dropped here.
                guard let handler = handlers[id] else { continue }
                if ProcessExitGuard.isExiting { ProcessExitGuard.park() }
                let watch = LoopWatchdog.start()
                LoopWatchdog.describe(handler.loopActivity)
                handler.handleIO(IOEvents(epoll: event.events))
                watch?.check { "I/O handler" }  // what it was doing is in the report's context
            }
            runExpiredTimers()
            runTasks()
        }
    }

    /// Signals go to other threads, never a loop: a handler run here (Foundation's SIGCHLD for child processes,
    /// a tool's SIGINT) would interrupt the C libraries' own `poll` calls with `EINTR`, which libssh 0.10 takes for
    /// an error (a channel open then fails with no reason given). Faults raised by the thread itself stay unblocked.
    private static func blockAsynchronousSignals() {
        var signals = sigset_t()
        sigfillset(&signals)
        for fault in [SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS] { sigdelset(&signals, fault) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// The signals blocked on the calling thread (a test's way to check a loop's).
    package static func blockedSignals() -> sigset_t {
        var current = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &current)
        return current
    }

    private func nextTimeoutMilliseconds() -> Int32 {
        let pending = inbox.withLock { inbox -> Bool in
            if inbox.tasks.isEmpty {
                inbox.wakePending = false
                return false
            }
            return true
        }
        if pending { return 0 }
        guard let deadline = liveTopDeadline() else { return -1 }
        let now = clock.now
        if deadline <= now { return 0 }
        // Manual time moves only when the test advances it, which runs the expired timers itself.
        if case .manual = clock { return -1 }
        return Int32(clamping: (deadline - now + 999_999) / 1_000_000)
    }

    private func runExpiredTimers() {
        let now = clock.now
        while let top = timers.peek(), top.deadline <= now {
            _ = timers.pop()
            if ProcessExitGuard.isExiting { ProcessExitGuard.park() }
            guard let (name, callback) = timerCallbacks.removeValue(forKey: top.id) else { continue }
            if case .manual(let manual) = clock { manual.recordFired(name) }
            let watch = LoopWatchdog.start()
            callback()
            watch?.check { "timer \(name)" }
        }
    }

    private func runTasks() {
        let tasks = inbox.withLock { inbox -> [Submitted] in
            let tasks = inbox.tasks
            inbox.tasks.removeAll(keepingCapacity: true)
            inbox.wakePending = true  // the loop is awake: tasks queued until it next sleeps need no eventfd write
            return tasks
        }
        for submitted in tasks {
            if ProcessExitGuard.isExiting { ProcessExitGuard.park() }
            let watch = LoopWatchdog.start()
            submitted.task()
            watch?.check { "task from \(submitted.file):\(submitted.line)" }
        }
    }
}

extension IOEvents {
    init(epoll flags: UInt32) {
        var events: IOEvents = []
        if flags & EPOLLIN.rawValue != 0 { events.insert(.readable) }
        if flags & EPOLLOUT.rawValue != 0 { events.insert(.writable) }
        if flags & (EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { events.insert(.hangup) }
        if flags & EPOLLERR.rawValue != 0 { events.insert(.error) }
        self = events
    }
}
