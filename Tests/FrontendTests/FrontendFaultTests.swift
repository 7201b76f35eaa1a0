import Foundation
import ParallelFrontend
import SSHBackend
import SSHTestSupport
import Testing

/// A fleet where some hosts sit behind a pulled link: the others are not held up, and each unreachable one fails
/// with a typed error naming it, at its own deadline.
@Suite(
    "Network faults through the parallel client", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)),
    .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
struct FrontendFaultTests {
    @Test(
        "1,000 entries, every tenth behind a downed link: 900 answer, 100 fail as unreachable naming their host",
        arguments: FrontendEngine.all)
    func tenPercentUnreachable(engine: FrontendEngine) async throws {
        try await Exclusive.run {
            let network = try await offPool { try NetworkNamespace() }
            defer { network.remove() }
            let cut = try await TestSSHServer.start(host: network.insideAddress, namespace: network)
            defer { cut.stop() }
            try await offPool { try network.setLink(up: false) }
            let servers = try await Fleet.servers
            let entries = (0..<1000).map { index in index % 10 == 9 ? cut : servers[index % servers.count] }
            let client = try ParallelSSHClient(
                hosts: entries.map(\.host), backend: engine.backend,
                config: Fleet.config(),
                // The dead entries' short timeout; the live ones keep a load-proof 30 s.
                hostConfig: entries.map { HostConfig(port: $0.port, timeout: $0 === cut ? .seconds(3) : nil) },
                poolSize: 100)
            let started = ContinuousClock.now
            let output = try await client.runCommand("echo ok", stopOnErrors: false)
            try await client.join(output, timeout: .seconds(120))
            let wall = ContinuousClock.now - started
            var answered = 0
            var timedOut = 0
            for (index, host) in output.enumerated() {
                if index % 10 == 9 {
                    // Packets into the pulled link vanish: the connect deadline ends the wait, or the kernel's
                    // neighbour discovery gives up first (EHOSTUNREACH), whichever comes first.
                    let error = host.error
                    let typed = error?.code == .timeout || error?.code == .hostUnreachable
                    #expect(typed && error?.host == network.insideAddress, "\(String(describing: host.error))")
                    if typed { timedOut += 1 }
                } else {
                    #expect(host.error == nil, "\(String(describing: host.error))")
                    if try await host.stdout.first(where: { _ in true }) == "ok", host.exitCode == 0 { answered += 1 }
                }
            }
            #expect(answered == 900)
            #expect(timedOut == 100)
            // 100 dead hosts x 3 s over 100 slots is 3 s of waiting; the rest is 900 ordinary connections. Dead hosts
            // waited for one after another would take 300 s: the bound tells the two apart with room for any load.
            #expect(wall < .seconds(150), "took \(wall)")
            await client.disconnect()
        }
    }
}

/// Servers that turn connections away before their banner (sshd past MaxStartups): the parallel client paces
/// each destination and tries again, so every host gets through.
@Suite("Connection storms", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct FrontendStormTests {
    @Test("500 entries against an sshd with MaxStartups 10:30:60: every host succeeds", arguments: FrontendEngine.all)
    func maxStartups(engine: FrontendEngine) async throws {
        try await Exclusive.run {
            let (server, failed) = try await Self.storm(
                engine, maxStartups: "10:30:60", host: "127.0.0.2", entries: 500)
            defer { server.stop() }
            #expect(failed.isEmpty, "\(failed.count) failed, e.g. \(failed.prefix(3))")
        }
    }

    @Test(
        "a server that drops past 3 unauthenticated connections: the window shrinks, drops are retried, all 150 succeed",
        arguments: FrontendEngine.all)
    func narrowServer(engine: FrontendEngine) async throws {
        try await Exclusive.run {
            let (server, failed) = try await Self.storm(engine, maxStartups: "3:50:6", host: "127.0.0.3", entries: 150)
            defer { server.stop() }
            #expect(failed.isEmpty, "\(failed.count) failed, e.g. \(failed.prefix(3))")
            // The server did turn connections away (so the pacing, not luck, got every host through).
            #expect(server.log.components(separatedBy: "past MaxStartups").count > 1, "no drop happened")
        }
    }

    /// Runs `echo ok` on `entries` entries of one sshd with `MaxStartups` set, all at once; returns the server
    /// (still running, for its log) and how each host that did not print `ok` failed.
    static func storm(_ engine: FrontendEngine, maxStartups: String, host: String, entries: Int)
        async throws -> (TestSSHServer, [String])
    {
        let server = try await TestSSHServer.start(host: host, extraConfig: ["MaxStartups \(maxStartups)"])
        let client = try ParallelSSHClient(
            hosts: Array(repeating: server.host, count: entries), backend: engine.backend,
            config: Fleet.config(port: server.port, timeout: .seconds(60)),
            poolSize: entries)
        let output = try await client.runCommand("echo ok", stopOnErrors: false)
        try await client.join(output, timeout: .seconds(300))
        var failed: [String] = []
        for host in output {
            if let error = host.error {
                failed.append("\(error)")
            } else if try await host.stdout.first(where: { _ in true }) != "ok" {
                failed.append("no ok from entry \(host.index)")
            }
        }
        await client.disconnect()
        return (server, failed)
    }
}
