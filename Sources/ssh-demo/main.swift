// Starts three throwaway sshd servers on 127.0.0.1-3, runs a command on each through every engine (one host
// listed twice, each with its own connection), prints output and exit codes, and stops the servers.
import BackendLibSSH
import BackendLibSSH2
import SSHBackend
import SSHTestSupport

let engines: [any SSHBackend] = [LibSSH2Backend(), LibSSHBackend()]
let servers = try ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map { try TestSSHServer(host: $0) }
defer { servers.forEach { $0.stop() } }
let hosts = servers + [servers[1]]  // one host listed twice
let command = "set -- $SSH_CONNECTION; echo \"$(uname -sr), reached at $3 port $4\"; echo 'a line on stderr' >&2; exit 3"

for engine in engines {
    print("== engine \(engine.name) (\(engine.libraryVersion)), command: \(command)")
    try await withThrowingTaskGroup(of: String.self) { group in
        for (index, server) in hosts.enumerated() {
            group.addTask {
                let session = try await engine.connect(server.options())
                defer { Task { await session.close() } }
                let channel = try await session.exec(command)
                async let out = channel.stdout.collect()
                async let err = channel.stderr.collect()
                let (stdout, stderr) = try await (out, err)
                let exit = try await channel.exitStatus()
                var report = ""
                for line in String(decoding: stdout, as: UTF8.self).split(separator: "\n") {
                    report += "[\(index) \(server.host):\(server.port)]\t\(line)\n"
                }
                for line in String(decoding: stderr, as: UTF8.self).split(separator: "\n") {
                    report += "[\(index) \(server.host):\(server.port)]\t[err]\t\(line)\n"
                }
                report += "[\(index) \(server.host):\(server.port)]\t\(exit)"
                return report
            }
        }
        for try await report in group { print(report) }
    }
}
