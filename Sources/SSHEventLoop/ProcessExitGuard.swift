import CEventLoopShims
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps event-loop threads out of the C libraries once the process has begun to exit.
///
/// `exit()` runs the `atexit` handlers, among them OpenSSL's `OPENSSL_cleanup`, which frees the locks and tables
/// that libcrypto needs; then the shared libraries' destructors run (libssh's calls `ssh_finalize`). Loop threads
/// do not stop for `exit()`: a loop that is decrypting a packet or sending a disconnect at that moment touches
/// freed state and the process crashes on its way out (`pthread_rwlock_wrlock` on a NULL lock in libcrypto).
///
/// Two measures, both taken by ``install()`` before a C library is first initialised:
/// - OpenSSL is asked not to register its exit clean-up at all (`OPENSSL_INIT_NO_ATEXIT`). That works unless
///   OpenSSL was fully initialised before (libssh's library constructor may do so at load time); then its handler
///   was registered before ours.
/// - The guard's own `atexit` handler, which therefore runs before OpenSSL's and before any library destructor,
///   raises a flag and waits (a bounded time) until every loop has parked at a point where it holds no native
///   call; parked loops never call into C again.
package enum ProcessExitGuard {
    /// Set once the process exits; loops park when they see it.
    private static let exiting = Atomic<Bool>(false)
    /// Every loop ever started (loops live as long as the process).
    private static let loops = Mutex<[EventLoop]>([])
    /// Posted once by each loop that parked.
    private static let parked = Semaphore()
    /// How long exit waits for the loops to finish what they are doing.
    private static let patience: Duration = .seconds(2)

    private static let registered: Bool = {
        _ = parked
        _ = ceventloop_openssl_skip_exit_cleanup()
        return atexit { ProcessExitGuard.quiesce() } == 0
    }()

    /// Turns OpenSSL's exit clean-up off where still possible and registers the exit handler. Call before a C
    /// library's own initialisation; calls after the first do nothing.
    package static func install() {
        _ = registered
    }

    /// Whether the process is exiting (loops park when this is true).
    static var isExiting: Bool { exiting.load(ordering: .acquiring) }

    /// Records a loop whose thread is starting.
    static func add(_ loop: EventLoop) {
        loops.withLock { $0.append(loop) }
    }

    /// Called by a loop thread that saw ``isExiting``: signals that it is parked, then never returns.
    static func park() -> Never {
        parked.post()
        while true { pause() }
    }

    /// The exit handler: raises the flag, wakes every loop and waits until each one parked (or the patience ran
    /// out). A loop thread that itself called `exit()` is not waited for.
    static func quiesce() {
        exiting.store(true, ordering: .releasing)
        let others = loops.withLock { $0 }.filter { !$0.inEventLoop }
        for loop in others { loop.wakeUp() }
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += Int(patience.components.seconds)
        for _ in others {
            guard parked.wait(until: deadline) else { return }
        }
    }
}

/// A POSIX semaphore (async-signal-safe to post, usable from an exit handler). `@unchecked Sendable`: `sem_t` is
/// made to be shared between threads, and the pointer never changes.
final class Semaphore: @unchecked Sendable {
    private let semaphore: UnsafeMutablePointer<sem_t>

    /// A semaphore with count 0.
    init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    /// Adds one to the count.
    func post() {
        sem_post(semaphore)
    }

    /// Takes one from the count, waiting until `deadline` (`CLOCK_REALTIME`); false when the deadline passed.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        while sem_timedwait(semaphore, &deadline) != 0 {
            if errno != EINTR { return false }
        }
        return true
    }
}
