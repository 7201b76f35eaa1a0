import Synchronization

/// How many handshakes may run at once against each destination (`host:port`), learned from how it answers:
/// a window that halves when the destination turns a connection away before its banner (sshd past `MaxStartups`,
/// a connection limit in front of it) and grows back by one per window of handshakes it completes (AIMD, as TCP's
/// congestion window). The global ``AsyncLimiter`` still bounds all handshakes together; this only narrows it for
/// destinations that push back. No thread blocks; a cancelled waiter leaves with `CancellationError`.
final class HandshakePacer: Sendable {
    private struct Window {
        var limit: Double
        var running = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private struct State {
        var windows: [String: Window] = [:]
        var nextID: UInt64 = 0
    }

    /// The window a destination starts with: sshd's default `MaxStartups` begins dropping past 10.
    static let initialWindow = 10.0
    private let ceiling: Double
    private let state = Mutex(State())

    /// A pacer whose windows never exceed `ceiling` (the global handshake limit).
    init(ceiling: Int) { self.ceiling = Double(max(1, ceiling)) }

    /// The current window of `destination` (for tests and diagnostics).
    func window(_ destination: String) -> Double {
        state.withLock { $0.windows[destination]?.limit ?? min(Self.initialWindow, ceiling) }
    }

    /// Waits until `destination` has room for one more handshake; pair a return with ``release(_:turnedAway:)``.
    func acquire(_ destination: String) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    var window = state.windows[destination] ?? Window(limit: min(Self.initialWindow, ceiling))
                    defer { state.windows[destination] = window }
                    if window.running < Int(window.limit) {
                        window.running += 1
                        return .success(())
                    }
                    window.waiters.append((id, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard var window = state.windows[destination],
                      let index = window.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                defer { state.windows[destination] = window }
                return window.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Ends a handshake against `destination`: `turnedAway` when the destination closed it before its banner
    /// (the window halves), else it completed or failed for another reason (a completed one grows the window).
    func release(_ destination: String, turnedAway: Bool, completed: Bool) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard var window = state.windows[destination] else { return [] }
            window.running -= 1
            if turnedAway {
                window.limit = max(1, window.limit / 2)
            } else if completed {
                window.limit = min(ceiling, window.limit + 1 / window.limit)
            }
            var ready: [CheckedContinuation<Void, any Error>] = []
            while window.running < Int(window.limit), !window.waiters.isEmpty {
                window.running += 1
                ready.append(window.waiters.removeFirst().continuation)
            }
            // Only destinations that pushed back are remembered once idle, so memory follows those, not every host.
            if window.running == 0, window.waiters.isEmpty, window.limit >= min(Self.initialWindow, ceiling) {
                state.windows[destination] = nil
            } else {
                state.windows[destination] = window
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
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
