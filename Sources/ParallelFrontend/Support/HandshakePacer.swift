import Synchronization

/// How many handshakes may run at once against each destination (`host:port`), learned from how it answers:
/// a window that halves when the destination turns a connection away before its banner (sshd past `MaxStartups`,
/// a connection limit in front of it) and grows back by one per window of handshakes it completes (AIMD, as TCP's
/// congestion window). The global ``AsyncLimiter`` still bounds all handshakes together; this only narrows it for
/// destinations that push back. No thread blocks; a cancelled waiter leaves with `CancellationError`.
final class HandshakePacer: Sendable {
    /// A destination's window, and how many callers hold it (so an idle one can be forgotten safely).
    private struct Window {
        let limiter: AsyncLimiter
        var users = 0
    }

    /// The window a destination starts with: sshd's default `MaxStartups` begins dropping past 10.
    static let initialWindow = 10.0
    private let ceiling: Double
    private let windows = Mutex<[String: Window]>([:])

    /// A pacer whose windows never exceed `ceiling` (the global handshake limit).
    init(ceiling: Int) { self.ceiling = Double(max(1, ceiling)) }

    private var startingWindow: Double { min(Self.initialWindow, ceiling) }

    /// The current window of `destination` (for tests and diagnostics).
    func window(_ destination: String) -> Double {
        windows.withLock { $0[destination]?.limiter.limit } ?? startingWindow
    }

    /// Callers waiting for room at `destination` now (for tests).
    func waiting(_ destination: String) -> Int {
        windows.withLock { $0[destination]?.limiter.waiting } ?? 0
    }

    /// Waits until `destination` has room for one more handshake; pair a return with ``release(_:turnedAway:completed:)``.
    func acquire(_ destination: String) async throws {
        let limiter = windows.withLock { windows -> AsyncLimiter in
            var window = windows[destination] ?? Window(limiter: AsyncLimiter(limit: Int(startingWindow)))
            window.users += 1
            windows[destination] = window
            return window.limiter
        }
        do {
            try await limiter.acquire()
        } catch {
            leave(destination)
            throw error
        }
    }

    /// Ends a handshake against `destination`: `turnedAway` when the destination closed it before its banner
    /// (the window halves), `completed` when it got through (the window grows by 1/window), else neither.
    func release(_ destination: String, turnedAway: Bool, completed: Bool) {
        guard let limiter = windows.withLock({ $0[destination]?.limiter }) else { return }
        let ceiling = ceiling
        limiter.release { window in
            if turnedAway { return max(1, window / 2) }
            return completed ? min(ceiling, window + 1 / window) : window
        }
        leave(destination)
    }

    /// One caller is done with `destination`'s window. Only destinations that pushed back are remembered once
    /// nobody uses them, so memory follows those, not every host.
    private func leave(_ destination: String) {
        let starting = startingWindow
        windows.withLock { windows in
            guard var window = windows[destination] else { return }
            window.users -= 1
            if window.users == 0 && window.limiter.limit >= starting {
                windows[destination] = nil
            } else {
                windows[destination] = window
            }
        }
    }
}

/// The handshakes of one parallel client or run: all of them at most `limit` at once, each destination paced by
/// its own window.
final class HandshakeControl: Sendable {
    /// Every handshake of the client.
    let global: AsyncLimiter
    /// Each destination's window.
    let pacer: HandshakePacer

    /// Control for at most `limit` handshakes at once.
    init(limit: Int) {
        global = AsyncLimiter(limit: limit)
        pacer = HandshakePacer(ceiling: limit)
    }
}
