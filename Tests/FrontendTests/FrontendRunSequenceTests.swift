import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHEventLoop
import SSHFakeBackend
import SSHTestSupport
import Testing

/// `ParallelSSHClient.run(_:options:)`: each host's output as its command finishes, in completion order.
@Suite("Results in completion order (fake engine, virtual time)")
struct FrontendRunSequenceTests {
    private func client(_ hosts: [String], _ backend: FakeBackend) throws -> ParallelSSHClient {
        try ParallelSSHClient(
            hosts: hosts, backend: backend, config: HostConfig(connectionAttempts: 1, sshConfig: .disabled))
    }

    @Test("hosts come as their commands finish, a failed host at once, each with its output and exit code")
    func completionOrder() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let seconds = ["a": 3, "b": 1, "c": 2]
            let backend = FakeBackend { host in
                host == "dead"
                    ? FakeHost(connectError: .connectionRefused)
                    : FakeHost { _ in
                        .init(
                            stdout: ["I am \(host)\n"], exit: SSHExitStatus(code: Int32(seconds[host] ?? 0)),
                            duration: .seconds(seconds[host] ?? 0))
                    }
            }
            var results = try client(["a", "b", "dead", "c"], backend).run("whoami").makeAsyncIterator()
            let failed = try #require(try await results.next())
            #expect(failed.host == "dead" && failed.error?.code == .connectionRefused)
            var order: [String] = []
            for _ in 0..<3 {
                await clock.waitForSleepers(3 - order.count)
                await clock.advance(by: .seconds(1))
                let host = try #require(try await results.next())
                #expect(host.exitCode == Int32(seconds[host.host] ?? -1))
                var lines: [String] = []
                for try await line in host.stdout { lines.append(line) }
                #expect(lines == ["I am \(host.host)"])
                order.append(host.host)
            }
            #expect(order == ["b", "c", "a"])
            #expect(try await results.next() == nil)
        }
    }

    @Test("leaving the loop early ends the commands still running")
    func earlyExit() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { host in
                FakeHost { _ in .init(duration: host == "quick" ? .zero : nil) }
            }
            let client = try client(["quick", "forever1", "forever2"], backend)
            for try await host in client.run("x") {
                #expect(host.host == "quick")
                break
            }
            // The two commands that never end are closed, not left running.
            try await waitUntil("the unfinished commands closed") { backend.stats.closedChannels >= 2 }
            #expect(backend.stats.closedChannels == 2)
        }
    }
}
