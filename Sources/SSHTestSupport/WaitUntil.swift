import Foundation

/// Waits for something outside the process that sends no notification (a process appearing, a line in a server's
/// log, a file): checks `condition` every 10 ms until it holds, and fails naming `what` only after `limit`, a
/// bound far above any expected wait (a loaded machine slows the event, never breaks the test).
public func waitUntil(
    _ what: String, within limit: Duration = .seconds(60),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let giveUp = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < giveUp else { throw TestSupportError("\(what) did not happen within \(limit)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

extension TestSSHServer {
    /// The server's session processes, once one of them runs `command` (the exec reached the server's shell).
    public func waitForSessionProcesses(running command: String = "sleep", count: Int = 1) async throws -> [pid_t] {
        try await waitUntil("\(count) session process(es) running \(command)") {
            self.processesRunning(command) >= count
        }
        return sessionProcesses
    }

    /// How many of the server's session processes run `command` now (their command line contains it).
    public func processesRunning(_ command: String) -> Int {
        sessionProcesses.filter { pid in
            let line = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return String(decoding: line, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(command)
        }.count
    }
}
