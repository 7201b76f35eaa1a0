/// One test at a time, across every suite and test target (they all run in one process): for tests that measure
/// memory or time, and for tests that load the machine enough to blur such measurements (hundreds of connections
/// at once, hundreds of megabytes). Everything else runs in parallel around them.
public enum Exclusive {
    /// Runs `body` while no other exclusive test runs.
    public static func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await gate.enter()
        do {
            let result = try await body()
            await gate.leave()
            return result
        } catch {
            await gate.leave()
            throw error
        }
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
