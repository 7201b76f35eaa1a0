import Foundation
import SSHTestSupport

/// A throwaway single-node Slurm cluster: munged, slurmctld and slurmd in the foreground under watchdogs (they die
/// with the tests), everything (key, sockets, state, spool, logs) under one scratch directory, on free ports.
/// Root only (slurmd runs jobs as their submitter).
final class SlurmCluster: @unchecked Sendable {
    /// Why a cluster cannot start here, if it cannot.
    static let unavailableReason: String? = {
        if getuid() != 0 { return "a Slurm cluster needs root" }
        for tool in ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing: install munge, slurmctld, slurmd and slurm-client (scripts/install-deps does)"
        }
        return nil
    }()

    let directory: String
    let configPath: String
    private var daemons: [SpawnedProcess] = []

    init() throws {
        directory = try scratchDirectory("slurm")
        chmod(directory, 0o755)
        for sub in ["state", "spool"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        var key = [UInt8](repeating: 0, count: 1024)
        for index in key.indices { key[index] = UInt8.random(in: 0...255) }
        _ = FileManager.default.createFile(atPath: "\(directory)/munge.key", contents: Data(key))
        chmod("\(directory)/munge.key", 0o400)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let (controllerPort, nodePort) = (try FreePort.find(host: "127.0.0.1"), try FreePort.find(host: "127.0.0.1"))
        configPath = "\(directory)/slurm.conf"
        let dir = directory
        try """
        ClusterName=fleetshtest
        SlurmctldHost=\(host)(127.0.0.1)
        SlurmctldPort=\(controllerPort)
        SlurmdPort=\(nodePort)
        SlurmUser=root
        SlurmdUser=root
        StateSaveLocation=\(dir)/state
        SlurmdSpoolDir=\(dir)/spool
        SlurmctldPidFile=\(dir)/slurmctld.pid
        SlurmdPidFile=\(dir)/slurmd.pid
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        AuthType=auth/munge
        AuthInfo=socket=\(dir)/munge.socket
        CredType=cred/munge
        SchedulerType=sched/builtin
        SelectType=select/cons_tres
        SelectTypeParameters=CR_CPU
        ReturnToService=2
        MpiDefault=none
        JobAcctGatherType=jobacct_gather/none
        AccountingStorageType=accounting_storage/none
        NodeName=\(host) NodeAddr=127.0.0.1 CPUs=\(ProcessInfo.processInfo.activeProcessorCount) State=UNKNOWN
        PartitionName=fleetsh Nodes=\(host) Default=YES MaxTime=INFINITE State=UP

        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        do {
            daemons.append(
                try ProcessRunner.spawnGuarded(
                    [
                        "/usr/sbin/munged", "--foreground", "--force", "--key-file=\(dir)/munge.key",
                        "--socket=\(dir)/munge.socket",
                        "--pid-file=\(dir)/munged.pid", "--seed-file=\(dir)/munged.seed",
                        "--log-file=\(dir)/munged.log",
                    ],
                    logFile: "\(dir)/munged.out"))
            try wait(for: "\(dir)/munge.socket", what: "munged")
            daemons.append(
                try ProcessRunner.spawnGuarded(
                    ["/usr/sbin/slurmctld", "-D", "-f", configPath],
                    logFile: "\(dir)/slurmctld.log", environment: environment))
            daemons.append(
                try ProcessRunner.spawnGuarded(
                    ["/usr/sbin/slurmd", "-D", "-f", configPath, "-N", host],
                    logFile: "\(dir)/slurmd.log", environment: environment))
            try waitUntilIdle()
        } catch {
            stop()
            throw error
        }
    }

    /// `SLURM_CONF` for the client commands.
    var environment: [String: String] { ["SLURM_CONF": configPath] }

    private func wait(for path: String, what: String) throws {
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: path) {
            guard Date() < deadline else { throw TestSupportError("\(what) did not start: \(log)") }
            usleep(50_000)
        }
    }

    /// Waits until the node reports idle (slurmd registered with slurmctld).
    private func waitUntilIdle() throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let state = try? ProcessRunner.run(["/usr/bin/sinfo", "-h", "-o", "%t"], environment: environment),
                state.contains("idle")
            {
                return
            }
            usleep(200_000)
        }
        throw TestSupportError("the Slurm node never became idle: \(log)")
    }

    /// Submits `script` as a job array of `tasks` and waits for it to end; returns sbatch's exit status (the
    /// highest of the tasks') and output.
    func runArray(script: String, tasks: Int) throws -> (status: Int32, output: String) {
        let path = "\(directory)/job-\(UUID().uuidString).sh"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return try ProcessRunner.outcome(
            [
                "/usr/bin/sbatch", "--wait", "--array=0-\(tasks - 1)", "--chdir=\(directory)",
                "-o", "\(directory)/task-%A-%a.log", path,
            ], environment: environment)
    }

    /// The daemons' logs.
    var log: String {
        ["munged.log", "slurmctld.log", "slurmd.log"].map { name in
            "== \(name)\n" + ((try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? "")
        }.joined(separator: "\n")
    }

    func stop() {
        for daemon in daemons.reversed() { daemon.stop() }
        daemons.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
