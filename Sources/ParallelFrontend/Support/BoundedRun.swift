/// The one bounded-concurrency loop of the parallel client and of streaming runs: work items taken from `next` one
/// at a time, at most `width` in flight, each result handed to `completed` as it comes (in completion order), and
/// the next item started only once `completed` has taken the last result, so memory is bounded by `width`, not by
/// the number of items.
enum BoundedRun {
    /// Runs the work `next` hands out until it hands out `nil`.
    /// - Parameters:
    ///   - width: items in flight at most (at least 1).
    ///   - next: the next item's work, or `nil` when there is none left; called on the caller's task.
    ///   - completed: receives each result; a thrown error cancels the items in flight and is rethrown.
    ///   - executor: the executor preference of the items and of the loop that gathers their results (the engine's
    ///     loops, for the library's own work), if any: a result then reaches `completed` on the loop that finished
    ///     the item, with no hop through Swift's global pool. `next` and `completed` run there too.
    /// - Once the calling task is cancelled, the items in flight end as their work does on cancellation, and no
    ///   further item starts.
    static func run<Result: Sendable>(
        width: Int, executor: (any TaskExecutor)? = nil, next: () -> (@Sendable () async -> Result)?,
        completed: (Result) async throws -> Void
    ) async throws {
        // The items, child tasks of the group, inherit the preference.
        try await withTaskExecutorPreference(executor) {
            try await gather(width: width, next: next, completed: completed)
        }
    }

    private static func gather<Result: Sendable>(
        width: Int, next: () -> (@Sendable () async -> Result)?, completed: (Result) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Result.self) { group in
            var inFlight = 0
            func startNext() -> Bool {
                guard let work = next() else { return false }
                group.addTask { await work() }
                return true
            }
            while inFlight < max(1, width), !Task.isCancelled, startNext() { inFlight += 1 }
            while let result = try await group.next() {
                inFlight -= 1
                try await completed(result)
                if !Task.isCancelled, startNext() { inFlight += 1 }
            }
        }
    }
}
