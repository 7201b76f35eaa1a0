import Foundation

/// A remote command's writer process, found by the pid it printed (the test servers run on this machine): for
/// backpressure tests that measure the writer, not this process's memory (which the tests beside them move).
public enum RemoteWriter {
    /// Waits until process `pid` is blocked writing to a full pipe or socket (the flow stopped), then returns the
    /// bytes it has written so far (`/proc/<pid>/io`'s `wchar`; `Int.max` when it cannot be read).
    public static func bytesWrittenWhenBlocked(pid: Int32) async throws -> Int {
        try await waitUntil("the remote writer blocked on a full pipe") {
            let wchan = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
            return ["pipe_write", "unix_stream", "sock_alloc_send", "wait_memory"].contains { wchan.contains($0) }
        }
        let io = (try? String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8)) ?? ""
        return io.split(separator: "\n").first { $0.hasPrefix("wchar:") }
            .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) } ?? Int.max
    }

    /// The pid a command printed first (`echo $$`), from the first chunk of `chunk`.
    public static func pid(from chunk: [UInt8]?) -> Int32? {
        chunk.flatMap { Int32(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
