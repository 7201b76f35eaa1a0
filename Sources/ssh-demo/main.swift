// Starts three throwaway sshd servers on 127.0.0.1-3, runs one command on all of them through the parallel client
// with each engine (one host listed twice, each entry with its own connection), prints every host's output and
// exit code, copies a file to every entry and back, and stops the servers.
import ParallelSSH  // the frontend, both engines and the API types, in one import
import SSHTestSupport

#if canImport(Glibc)
    import Glibc
#endif

let engines: [any SSHBackend] = [LibSSH2Backend(), LibSSHBackend()]
let servers = try ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map { try TestSSHServer(host: $0) }
defer { for server in servers { server.stop() } }
let entries = servers + [servers[1]]  // one host listed twice
let command =
    "set -- $SSH_CONNECTION; echo \"$(uname -sr), reached at $3 port $4\"; echo 'a line on stderr' >&2; exit 3"

for engine in engines {
    print("== engine \(engine.name) \(engine.libraryVersion): \(command)")
    // Each throwaway server listens on its own port: a HostConfig per entry says which (and tells the duplicate
    // apart with an alias). The test key is the only identity, and host keys are checked against the known_hosts the
    // test support wrote for these servers: the user's agent and ~/.ssh are left alone.
    let client = try ParallelSSHClient(
        hosts: entries.map(\.host), backend: engine,
        config: HostConfig(
            privateKey: .file(TestKeys.shared.ed25519), timeout: .seconds(10), allowAgent: false,
            identityAuth: false, hostKeyPolicy: TestKeys.shared.hostKeyPolicy,
            sshConfig: .file(TestKeys.shared.sshConfig)),
        hostConfig: entries.enumerated().map { index, server in
            HostConfig(port: server.port, alias: index == 3 ? "\(server.host) (again)" : nil)
        })
    let output = try await client.runCommand(command)
    for host in output {
        let name = host.alias ?? host.host
        for try await line in host.stdout { print("[\(name)]\t\(line)") }
        for try await line in host.stderr { print("[\(name)]\t[err]\t\(line)") }
    }
    try await client.join(output, timeout: .seconds(30))
    for host in output { print("[\(host.alias ?? host.host)]\texit code \(host.exitCode.map(String.init) ?? "none")") }

    // Files: one file to every entry over SFTP (a remote name per entry from a closure), then each entry's copy back
    // over SCP into one local file per entry. The servers are this machine, so "remote" paths are local ones too.
    let dir = "/tmp/ssh-demo-\(engine.name)-\(getpid())"
    mkdir(dir, 0o777)
    chmod(dir, 0o777)
    defer { _ = try? ProcessRunner.run(["/bin/rm", "-rf", dir]) }
    _ = try ProcessRunner.run(["/bin/sh", "-c", "seq 100000 > \(dir)/numbers"])
    let sent = try await client.upload { _, index in ("\(dir)/numbers", "\(dir)/uploaded-\(index)") }
    let received = try await client.download(using: .scp()) { _, index in
        ("\(dir)/back-\(index)", "\(dir)/uploaded-\(index)")
    }
    for (up, down) in zip(sent, received) {
        let same = (try? ProcessRunner.run(["/usr/bin/cmp", "\(dir)/numbers", down.localPath])) != nil
        print(
            "[\(up.alias ?? up.host)]\tsftp -> \(up.remotePath), scp <- \(down.localPath): \(same ? "identical" : "DIFFERENT")"
        )
    }
    await client.disconnect()
}
