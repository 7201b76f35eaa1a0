#if canImport(Glibc)
    import Glibc
#endif

/// A task executor that keeps a task on the event loop that woke it: a job enqueued from a loop thread (a task
/// resumed by I/O, a timer or a channel's data, on that loop) runs on the same loop, in the same turn, instead of
/// waking a thread of Swift's cooperative pool; a job enqueued from anywhere else goes to the global concurrent
/// executor, as it would without a preference. Used as the executor preference of the library's own per-host work
/// (connect, open channels, read output, wait for the exit), never of a caller's closure, so the caller's code
/// stays off the loops. Each wake-up then costs no context switch.
package final class LoopTaskExecutor: TaskExecutor {
    /// The one instance: which loop runs a job is decided by the thread that enqueues it.
    package static let shared = LoopTaskExecutor()

    private init() {}

    package func enqueue(_ job: consuming ExecutorJob) {
        guard let loop = EventLoop.current else {
            globalConcurrentExecutor.enqueue(job)
            return
        }
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

extension EventLoop {
    /// The thread-specific slot holding the loop that runs on a thread.
    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The loop whose thread this is, or `nil` on any other thread.
    package static var current: EventLoop? {
        pthread_getspecific(currentKey).map { Unmanaged<EventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Marks the calling thread as this loop's (called once, as the loop's thread starts).
    func markCurrentThread() {
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
    }
}
