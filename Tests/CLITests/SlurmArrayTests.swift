import FleetCLI
import Foundation
import SSHTestSupport
import Testing

/// fleetsh's shards run for real as a Slurm job array: a throwaway single-node cluster, four tasks each
/// taking `--shard env`, their JSON lines merged into one report, then a second array over the failed hosts only.
@Suite(
    "fleetsh as a Slurm job array", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)),
    .enabled(if: SlurmCluster.unavailableReason == nil, "\(SlurmCluster.unavailableReason ?? "")"))
struct SlurmArrayTests {
    @Test("4 tasks over 61 hosts on each engine: every host once, exit statuses right, failures rerun alone")
    func jobArray() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let cluster = try await offPool { try SlurmCluster() }
            defer { cluster.stop() }
            // 60 aliases over the three servers, and one host where nothing listens.
            var aliases = ""
            for index in 1...60 {
                aliases +=
                    "Host node\(String(format: "%02d", index))\n    HostName 127.0.0.\(1 + index % 3)\n"
                    + "    Port \(site.servers[index % 3].port)\n"
            }
            try (try String(contentsOfFile: site.config, encoding: .utf8) + aliases)
                .write(toFile: site.config, atomically: true, encoding: .utf8)
            let dead = try FreePort.find(host: "127.0.0.4")
            let hostsFile = site.directory + "/hosts"
            try "node[01-60]\n127.0.0.4:\(dead)\n".write(toFile: hostsFile, atomically: true, encoding: .utf8)
            let failing = (1...60).filter { $0 % 3 == 2 }.map { "node" + String(format: "%02d", $0) }  // on 127.0.0.3
            for engine in ["libssh2", "libssh"] {
                let started = ContinuousClock.now
                let (parts, status) = try await offPool {
                    try Self.array(cluster, site: site, engine: engine, hosts: hostsFile, tag: "\(engine)-first")
                }
                #expect(status == 2, "sbatch --wait gives the highest task exit: the dead host's task exits 2")
                let elapsed = ContinuousClock.now - started
                let failed = site.directory + "/failed-\(engine)"
                let merged = try await Fleetsh.run(["merge", "--json", "--failed-hosts", failed] + parts)
                let reports = try merged.lines.map(HostReport.fromJSONLine)
                #expect(
                    reports.count == 61 && Set(reports.map(\.host)).count == 61, "every host exactly once (\(engine))")
                #expect(merged.status == 2, "a dead host is a connection failure: \(merged.stderr)")
                for report in reports where report.error == nil {
                    let expected: Int32 = failing.contains(report.host) ? 7 : 0
                    #expect(report.exitStatus == expected, "\(report.host): \(report)")
                    if expected == 0 { #expect(report.stdout == "up\n") }
                }
                #expect(reports.first { $0.host == "127.0.0.4:\(dead)" }?.error?.kind == "connectionRefused")
                let failedList = try String(contentsOfFile: failed, encoding: .utf8)
                #expect(
                    try Set(NodeSet.expand(failedList.trimmingCharacters(in: .newlines)))
                        == Set(failing + ["127.0.0.4:\(dead)"]))
                // The rerun: the same job over the failed hosts only.
                let again = try await offPool {
                    try Self.array(cluster, site: site, engine: engine, hosts: failed, tag: "\(engine)-rerun")
                }
                let rerun = try await Fleetsh.run(["merge", "--json"] + again.parts)
                #expect(
                    try Set(rerun.lines.map(HostReport.fromJSONLine).map(\.host))
                        == Set(failing + ["127.0.0.4:\(dead)"]))
                print("Slurm job array (\(engine)): 61 hosts, 4 tasks, \(elapsed) from sbatch to the last task's end")
            }
        }
    }

    /// Runs the tool as a 4-task array over `hosts`; returns the tasks' JSON-lines files and sbatch's status.
    static func array(_ cluster: SlurmCluster, site: Site, engine: String, hosts: String, tag: String) throws
        -> (parts: [String], status: Int32)
    {
        let output = "\(site.directory)/\(tag)"
        let script = """
            #!/bin/sh
            exec '\(Fleetsh.path)' -F '\(site.config)' -f '\(hosts)' --engine \(engine) --shard env --json -- \
              'set -- $SSH_CONNECTION; [ $3 = 127.0.0.3 ] && exit 7; echo up' > '\(output)-'$SLURM_ARRAY_TASK_ID.jsonl

            """
        let submitted = try cluster.runArray(script: script, tasks: 4)
        let parts = (0..<4).map { "\(output)-\($0).jsonl" }
        for part in parts where !FileManager.default.fileExists(atPath: part) {
            throw TestSupportError("task output \(part) is missing (\(submitted)): \(cluster.log)")
        }
        return (parts, submitted.status)
    }
}
