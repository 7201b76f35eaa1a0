// Our side of the benchmarks (bench/run.py drives it): one workload, one engine, against an sshd the runner
// started. Prints one JSON line of figures: wall time, client CPU, peak RSS, threads, successes and failures.
import ArgumentParser
import BackendLibSSH
import BackendLibSSH2
import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig

#if canImport(Glibc)
    import Glibc
#endif

/// `pssh-bench`: one workload, one engine, one JSON line of figures.
@main
struct PsshBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pssh-bench",
        abstract: "One benchmark workload on one engine; prints one JSON line (bench/run.py drives it).")

    /// What to measure.
    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case fanout, stream, hold, soak, sweep, knownhosts, sshconfig
        case uploadSFTP = "upload-sftp"
        case downloadSFTP = "download-sftp"
        case uploadSCP = "upload-scp"
        case downloadSCP = "download-scp"
    }

    /// Which engine runs it.
    enum EngineName: String, ExpressibleByArgument, CaseIterable {
        case libssh2, libssh

        var backend: any SSHBackend { self == .libssh ? LibSSHBackend() : LibSSH2Backend() }
    }

    @Option(help: "The workload.") var workload: Workload = .fanout
    @Option(help: "The engine.") var engine: EngineName = .libssh2
    @Option(help: "The server's address.") var host = "127.0.0.1"
    @Option(help: "The server's port.") var port = 22
    @Option(help: "The login.") var user = SSHConnectionOptions.currentUser
    @Option(help: "The private key file.") var key = ""
    @Option(help: "Host entries (fanout, hold, sweep), or names looked up (knownhosts, sshconfig).") var hosts = 100
    @Option(help: "Bytes of output (stream).") var bytes = 100_000_000
    @Option(help: "The local file (copies, knownhosts, sshconfig).") var local = ""
    @Option(help: "The remote file (copies).") var remote = ""
    @Option(name: .customLong("known-hosts"), help: "The known_hosts file.") var knownHosts = ""
    @Option(help: "A jump host, [user@]host[:port].") var jump: String?
    @Option(help: "Commands one after another (soak).") var commands = 10_000
    @Option(help: "Connect and close cycles (soak).") var cycles = 2_000
    @Option(name: .customLong("plant-leak"), help: "1: leak 64 x 77 bytes on purpose (soak's positive control).")
    var plantLeak = 0
    @Option(help: "The private key's passphrase.") var passphrase: String?
    @Option(help: "Comma-separated server addresses (sweep).") var addresses: String?
    @Option(help: "Hosts at once (sweep).") var concurrency = 1000

    func run() async throws {
        try await measure(self)
    }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

func peakRSSKilobytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

func threadCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
}

func raiseOpenFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// Where the planted leak's blocks pass through (see `--plant-leak`).
nonisolated(unsafe) var plantedLeak: UnsafeMutableRawPointer?

/// Runs the chosen workload and prints its figures.
func measure(_ arguments: PsshBench) async throws {
    raiseOpenFileLimit()
    if arguments.workload == .knownhosts {
        await knownHostsWorkload(file: arguments.local, count: arguments.hosts)
        exit(0)
    }
    if arguments.workload == .soak {
        do {
            try await soakWorkload(
                backend: arguments.engine.backend,
                options: SSHConnectionOptions(
                    host: arguments.host, port: arguments.port, user: arguments.user,
                    authMethods: [.privateKeyFile(path: arguments.key)],
                    hostKeyPolicy: SSHHostKeyPolicy(
                        userKnownHostsFiles: [arguments.knownHosts], globalKnownHostsFiles: [])),
                commands: arguments.commands, cycles: arguments.cycles)
            // The leak check's positive control: 64 x 77 bytes nobody frees, which LeakSanitizer must report.
            if arguments.plantLeak == 1 {
                for _ in 0..<64 {
                    // Handed to a system call, or the optimizer drops the allocation.
                    plantedLeak = malloc(77)
                    _ = write(-1, plantedLeak, 77)
                }
                plantedLeak = nil
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
    if arguments.workload == .sweep {
        do {
            try await sweepWorkload(
                backend: arguments.engine.backend,
                config: HostConfig(
                    user: arguments.user, privateKey: .file(arguments.key), connectionAttempts: 1,
                    timeout: .seconds(120), allowAgent: false, identityAuth: false,
                    hostKeyPolicy: SSHHostKeyPolicy(
                        userKnownHostsFiles: [arguments.knownHosts],
                        globalKnownHostsFiles: []),
                    sshConfig: .disabled),
                addresses: arguments.addresses.map { $0.split(separator: ",").map(String.init) } ?? [arguments.host],
                port: arguments.port,
                count: arguments.hosts, concurrency: arguments.concurrency)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
    if arguments.workload == .sshconfig {
        await sshConfigWorkload(file: arguments.local, count: arguments.hosts)
        exit(0)
    }
    let backend: any SSHBackend = arguments.engine.backend
    // The jump host with the hosts' key and user (parallel-ssh's proxy_host fallbacks): a hop given as `.hosts`
    // gets only its own configuration, as with `ssh -J`, and the bench reads no ssh_config and no agent.
    var jump: JumpRoute?
    if let spec = arguments.jump {
        guard let hop = UserHostPort(spec) else {
            FileHandle.standardError.write(Data("--jump \(spec) is not [user@]host[:port]\n".utf8))
            exit(64)
        }
        jump = .proxy(host: hop.host, port: hop.port, user: hop.user)
    }
    let count = [.fanout, .hold].contains(arguments.workload) ? arguments.hosts : 1
    let client = try ParallelSSHClient(
        hosts: Array(repeating: arguments.host, count: count), backend: backend,
        config: HostConfig(
            user: arguments.user, port: arguments.port,
            privateKey: .file(arguments.key, passphrase: arguments.passphrase),
            connectionAttempts: 1, timeout: .seconds(120), allowAgent: false, identityAuth: false,
            hostKeyPolicy: SSHHostKeyPolicy(userKnownHostsFiles: [arguments.knownHosts], globalKnownHostsFiles: []),
            jump: jump, sshConfig: .disabled),
        poolSize: 10_000, maxConcurrentHandshakes: 256)

    /// Prints the failure for the runner and exits non-zero.
    func fail(_ error: any Error) -> Never {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(1)
    }

    /// Prints how hosts failed (the most common causes first) to stderr, so a run's failures can be understood.
    func reportFailures(_ causes: [String]) {
        guard !causes.isEmpty else { return }
        let counts = Dictionary(causes.map { ($0, 1) }, uniquingKeysWith: +).sorted { $0.value > $1.value }
        for (cause, count) in counts.prefix(5) { FileHandle.standardError.write(Data("\(count) x \(cause)\n".utf8)) }
    }

    let cpuBefore = cpuSeconds()
    let started = ContinuousClock.now
    var succeeded = 0
    var threads = 0
    do {
        switch arguments.workload {
        case .fanout:
            let output = try await client.runCommand("uname", stopOnErrors: false)
            try await client.join(output, consumeOutput: true)
            succeeded = output.filter { $0.exitCode == 0 }.count
            reportFailures(
                output.compactMap { host in
                    host.error.map { "\($0)" }
                        ?? (host.exitCode == 0
                            ? nil
                            : "exit \(host.exitStatus.map { "\($0)" } ?? "unknown"): \(host.exitError.map { "\($0)" } ?? "")")
                })
        case .stream:
            let output = try await client.runCommand(
                "head -c \(arguments.bytes) /dev/zero | tr '\\0' 'x' | fold -w 99")
            var lines = 0
            for try await _ in output[0].stdout { lines += 1 }
            try await client.join(output)
            succeeded = lines == (arguments.bytes + 98) / 99 ? 1 : 0
        case .hold:
            let errors = try await client.connect(stopOnErrors: false)
            succeeded = errors.filter { $0 == nil }.count
            try await Task.sleep(for: .seconds(2))
            threads = threadCount()
        case .uploadSFTP:
            succeeded = try await client.upload(arguments.local, to: arguments.remote).filter { $0.error == nil }.count
        case .downloadSFTP:
            succeeded = try await client.download { _, _ in (arguments.local, arguments.remote) }
                .filter { $0.error == nil }.count
        case .uploadSCP:
            succeeded = try await client.upload(arguments.local, to: arguments.remote, using: .scp(overwrite: true))
                .filter { $0.error == nil }.count
        case .downloadSCP:
            succeeded = try await client.download(using: .scp()) { _, _ in (arguments.local, arguments.remote) }
                .filter { $0.error == nil }.count
        case .soak, .sweep, .knownhosts, .sshconfig:
            break  // run above
        }
    } catch {
        fail(error)
    }
    let wall = ContinuousClock.now - started
    let cpu = cpuSeconds() - cpuBefore
    if threads == 0 { threads = threadCount() }
    await client.disconnect()
    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    print(
        """
        {"tool": "swift-\(arguments.engine.rawValue)", "workload": "\(arguments.workload.rawValue)", "n": \(count), \
        "wall": \(seconds), "cpu": \(cpu), "maxrss_kb": \(peakRSSKilobytes()), "threads": \(threads), \
        "ok": \(succeeded), "failed": \(count - succeeded)}
        """)

}
