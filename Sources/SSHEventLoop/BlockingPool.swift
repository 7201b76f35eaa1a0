import CEventLoopShims
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A small, fixed set of threads for the calls that can only block, so they never block an event loop or Swift's
/// cooperative pool. Each kind of blocking work has a pool of its own, so one kind cannot starve another: four
/// slow name lookups leave file I/O and child processes their threads.
package final class BlockingPool: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue: [@Sendable () -> Void] = []  // guarded by `mutex`

    /// Name resolution (`getaddrinfo`), 32 threads: a lookup mostly waits for a DNS server's answer, so lookups
    /// per second are threads over that round trip (four threads held a fleet named in DNS to 176 hosts a second
    /// at 20 ms; `bench/dns`). glibc cannot interrupt a lookup in progress: one that outlives its connect deadline
    /// keeps its thread until the resolver's own timeout (`resolv.conf`), here only.
    package static let names = BlockingPool(threads: 32)

    /// File I/O: known_hosts and ssh_config reads, `flock`, key and certificate files, local transfer files, the
    /// agent's connect and list; 4 threads.
    package static let files = BlockingPool(threads: 4)

    /// Child processes: ProxyCommand spawns and `Match exec` commands (each under a timeout), 2 threads.
    package static let processes = BlockingPool(threads: 2)

    /// Kerberos: a host's service ticket asked of the KDC (krb5's own timeouts and retries bound each), 2 threads, so
    /// that a KDC out of reach stalls Kerberos logins only, never name lookups or files.
    package static let kerberos = BlockingPool(threads: 2)

    /// Starts `threads` worker threads.
    package init(threads: Int) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<threads {
            precondition(runOnDetachedThread { self.work() }, "pthread_create failed")
        }
    }

    /// Runs `job` on a pool thread.
    package func submit(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        queue.append(job)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Runs `body` on a pool thread and returns its result to the awaiting task.
    package func run<T: Sendable, Failure: Error>(_ body: @escaping @Sendable () throws(Failure) -> T)
        async throws(Failure) -> T
    {
        let result: Result<T, Failure> = await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: Result { () throws(Failure) -> T in try body() }) }
        }
        return try result.get()
    }

    private func work() {
        _ = ceventloop_set_thread_name("ssh-blocking")
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty { pthread_cond_wait(&condition, &mutex) }
            let job = queue.removeFirst()
            pthread_mutex_unlock(&mutex)
            job()
        }
    }
}

/// Resumes a continuation at most once, whichever of several racers (a result, a deadline, a cancellation)
/// comes first.
package final class OnceContinuation<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    /// Wraps `continuation`.
    package init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    /// Resumes with `result` if nobody did yet.
    package func resume(with result: Result<T, any Error>) {
        let taken = continuation.withLock { value -> CheckedContinuation<T, any Error>? in
            defer { value = nil }
            return value
        }
        taken?.resume(with: result)
    }
}
