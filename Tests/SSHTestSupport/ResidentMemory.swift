import Foundation

/// The process's resident set size, for tests that bound memory.
///
/// Every test target runs in one process, so a test that measures memory and a test that holds a lot of it would
/// blur each other's figures: both kinds run inside ``exclusively(_:)``, one at a time across all suites.
public enum ResidentMemory {
    /// Bytes resident now (0 when `/proc` cannot tell).
    public static var current: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { return 0 }
        return kilobytes * 1024
    }

    /// Runs `body` while no other memory-measuring or memory-heavy test runs.
    public static func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
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
