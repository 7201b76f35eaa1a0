import Foundation
import ParallelFrontend
import SSHBackend
import SSHFakeBackend
import Synchronization
import Testing

/// `ParallelRun.forEachHost`: any number of hosts, bounded concurrency, each connection closed when its host is done.
@Suite("Streaming runs (fake engine)")
struct FrontendStreamingRunTests {
    @Test("5,000 hosts read lazily at 20 at once: every result once, connections closed as hosts finish")
    func manyHostsBounded() async throws {
        let backend = FakeBackend { host in
            FakeHost(connectError: host.hasSuffix("13") ? .connectionRefused : nil) { _ in
                .init(stdout: ["hi \(host)\n"])
            }
        }
        let produced = Mutex(0)
        let hosts = (0..<5000).lazy.map { index -> HostTarget in
            produced.withLock { $0 += 1 }
            return HostTarget("h\(index)")
        }
        var seen = Set<Int>()
        var failures = 0
        var maxAhead = 0
        try await ParallelRun.forEachHost(
            hosts, backend: backend, config: HostConfig(connectionAttempts: 1),
            concurrency: 20
        ) { client in
            let output = try await client.runCommand("hi")
            var lines: [String] = []
            for try await line in output.stdout { lines.append(line) }
            return lines
        } completed: { run in
            #expect(seen.insert(run.index).inserted)
            maxAhead = max(maxAhead, produced.withLock { $0 } - seen.count)
            switch run.result {
            case .success(let lines): #expect(lines == ["hi \(run.target.host)"])
            case .failure(let error):
                #expect((error as? SSHError)?.code == .connectionRefused && run.target.host.hasSuffix("13"))
                failures += 1
            }
        }
        #expect(seen.count == 5000)
        #expect(failures == 50)
        #expect(maxAhead <= 20, "hosts are taken from the sequence only as others finish")
        #expect(
            backend.stats.maxOpenSessions <= 20 && backend.stats.openSessions == 0, "\(backend.stats.maxOpenSessions)")
    }

    @Test("an error thrown by the consumer stops the run and cancels the hosts in flight")
    func consumerStops() async throws {
        struct Stop: Error {}
        // h0 finishes at once; the others would run until closed.
        let backend = FakeBackend { host in
            FakeHost { _ in .init(stdout: ["x\n"], duration: host == "h0" ? .zero : nil) }
        }
        var taken = 0
        await #expect(throws: Stop.self) {
            try await ParallelRun.forEachHost((0..<100).map { HostTarget("h\($0)") }, backend: backend, concurrency: 5)
            { client in
                let output = try await client.runCommand("forever")
                try await output.waitFinished()
                return 0
            } completed: { _ in
                taken += 1
                throw Stop()
            }
        }
        #expect(taken <= 1)
        #expect(backend.stats.openSessions == 0)
    }
}
