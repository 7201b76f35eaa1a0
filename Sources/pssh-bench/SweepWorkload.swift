import Foundation
import ParallelFrontend
import SSHBackend

/// The streaming run at scale (bench/hundred drives it): `uname` on `count` entries spread over `addresses` (one
/// port), through `ParallelRun.forEachHost` with `concurrency` hosts at once, each host's connection closed when its
/// command is done. Prints one JSON line: wall, client CPU, peak RSS, successes and the commonest failures.
func sweepWorkload(
    backend: any SSHBackend, config: HostConfig, addresses: [String], port: Int, count: Int,
    concurrency: Int
) async throws {
    let targets = (0..<count).lazy.map { HostTarget(addresses[$0 % addresses.count], config: HostConfig(port: port)) }
    var ok = 0
    var failures: [String: Int] = [:]
    let cpuBefore = cpuSeconds()
    let started = ContinuousClock.now
    try await ParallelRun.forEachHost(
        targets, backend: backend, config: config, concurrency: concurrency,
        maxConcurrentHandshakes: 256
    ) { client in
        let host = try await client.runCommand("uname")
        let output = try await host.rawStdout.collect()
        try await host.waitFinished()
        return host.exitCode == 0 && output == Array("Linux\n".utf8)
    } completed: { run in
        switch run.result {
        case .success(true): ok += 1
        case .success(false): failures["wrong output", default: 0] += 1
        case .failure(let error):
            failures["\((error as? SSHError)?.code.name ?? "\(type(of: error))")", default: 0] += 1
        }
    }
    let wall = ContinuousClock.now - started
    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    let json = try JSONSerialization.data(
        withJSONObject: [
            "tool": "swift-\(backend.name)", "workload": "sweep", "n": count, "wall": seconds,
            "cpu": cpuSeconds() - cpuBefore,
            "maxrss_kb": peakRSSKilobytes(), "threads": threadCount(), "ok": ok, "failed": count - ok,
            "failures": failures,
        ] as [String: Any])
    print(String(decoding: json, as: UTF8.self))
}
