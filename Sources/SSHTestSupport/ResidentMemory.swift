import Foundation

/// The process's resident set size, for tests that bound memory.
/// Tests that measure it run inside ``Exclusive/run(_:)``.
public enum ResidentMemory {
    /// Bytes resident now (0 when `/proc` cannot tell).
    public static var current: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { return 0 }
        return kilobytes * 1024
    }
}
