import Synchronization

/// One test at a time, across every suite and test target (they all run in one process): for tests that measure
/// memory or time, and for tests that load the machine enough to blur such measurements (hundreds of connections
/// at once, hundreds of megabytes). Everything else runs in parallel around them.
///
/// A test's own hang guard starts at its turn: the queue can be long (every exclusive test of the run, minutes on a
/// loaded machine), so a suite's `.timeLimit`, which counts from the test's start, must cover the queue and is set
/// generously (``Exclusive/suiteTimeLimitMinutes``); the guard here is the one that speaks of the test itself.
public enum Exclusive {
    /// The `.timeLimit` of a suite that holds exclusive tests: the whole queue of them and the test itself.
    public static let suiteTimeLimitMinutes = 20

    /// Runs `body` while no other exclusive test runs. When `body` has not finished `timeLimit` after its turn
    /// came, it is cancelled and this throws, naming the limit, without waiting for it any longer (a hang that
    /// ignores cancellation must not hold every other exclusive test back).
    public static func run<T: Sendable>(
        timeLimit: Duration = .seconds(300),
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        await gate.enter()
        let race = Race<T>()
        let outcome: Result<T, any Error>
        do {
            outcome = .success(
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { race.start($0, body, timeLimit: timeLimit) }
                } onCancel: {
                    race.cancel()
                })
        } catch {
            outcome = .failure(error)
        }
        await gate.leave()
        return try outcome.get()
    }

    private static let gate = Gate()

    /// A FIFO lock for async callers.
    private actor Gate {
        private var busy = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func enter() async {
            if !busy {
                busy = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func leave() {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
    }
}

/// The body against its time limit: the first to end resumes the caller, and both tasks are then cancelled.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var tasks: [Task<Void, Never>] = []
        var cancelled = false
    }
    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<T, any Error>, _ body: @escaping @Sendable () async throws -> T,
        timeLimit: Duration
    ) {
        let alreadyCancelled = state.withLock { state -> Bool in
            state.continuation = continuation
            return state.cancelled
        }
        if alreadyCancelled {
            end(.failure(CancellationError()))
            return
        }
        let work = Task {
            do { self.end(.success(try await body())) } catch { self.end(.failure(error)) }
        }
        let limit = Task {
            guard (try? await Task.sleep(for: timeLimit)) != nil else { return }
            self.end(
                .failure(TestSupportError("the test ran past its own time limit of \(timeLimit) after its turn came")))
        }
        let cancelNow = state.withLock { state -> Bool in
            state.tasks = [work, limit]
            return state.cancelled || state.continuation == nil
        }
        if cancelNow {
            work.cancel()
            limit.cancel()
        }
    }

    /// The caller's task was cancelled (the suite's own limit): so is the body.
    func cancel() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.cancelled = true
            return state.tasks
        }
        for task in tasks { task.cancel() }
        // Not waiting for a body that ignores cancellation: the gate must go to the next test.
        end(.failure(CancellationError()))
    }

    private func end(_ result: Result<T, any Error>) {
        let taken = state.withLock { state -> (CheckedContinuation<T, any Error>, [Task<Void, Never>])? in
            guard let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (continuation, state.tasks)
        }
        guard let (continuation, tasks) = taken else { return }
        continuation.resume(with: result)
        for task in tasks { task.cancel() }
    }
}
