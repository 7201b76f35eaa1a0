// The Swift examples of README.md and the DocC getting-started article, each in a function of its own, so the build
// proves they compile as written (a test checks that every example there appears here verbatim, imports aside).
// Never run: the hosts are the documentation's.
import ParallelSSH
import SSHFileTransfer

/// README.md
func readmeRunCommands() async throws {
    let client = try ParallelSSHClient(hosts: ["web1", "web2", "web2"],
                                       config: HostConfig(user: "deploy", privateKey: .file("~/.ssh/id_ed25519")))
    let output = try await client.runCommand("uname")
    for host in output {
        for try await line in host.stdout { print("\(host.host): \(line)") }
        print(host.host, host.exitCode.map(String.init) ?? "no exit code")   // known once stdout has ended
    }
}

/// README.md
func readmeSettings() async throws {
    let client = try ParallelSSHClient(
        hosts: ["web1", "web2", "db1"],
        config: HostConfig(user: "deploy", connectionAttempts: 2, timeout: .seconds(10)),
        hostConfig: [HostConfig(), HostConfig(), HostConfig(user: "postgres", port: 2222, alias: "db")],
        hostLogger: .hostOutput())                  // prints [host]\tline for every line read
    _ = try await client.runCommand("uptime")
    try await client.join(consumeOutput: true)      // reads (and so prints) every line
}

/// README.md
func readmeHostKeys() async throws {
    var policy = SSHHostKeyPolicy()                       // strict: unknown hosts are refused, with how to trust them
    policy.mode = .acceptNew                              // OpenSSH's accept-new: new keys are written, changed ones refused
    policy.userKnownHostsFiles = ["~/.ssh/fleet_known_hosts"]
    let client = try ParallelSSHClient(hosts: ["web1", "web2"], config: HostConfig(hostKeyPolicy: policy))
    try await client.connectAuth()                        // throws hostKeyChanged for a host whose key changed
}

/// README.md
func readmeSSHConfig() async throws {
    let client = try ParallelSSHClient(hosts: ["web-1", "web-2"])     // HostName, User, Port, IdentityFile... from ~/.ssh/config
    _ = try await client.runCommand("uptime")
    let fleet = try ParallelSSHClient(hosts: ["db-1"],
                                      config: HostConfig(sshConfig: .file("fleet/ssh_config")))  // as ssh -F; .disabled: -F none
    print(try await fleet.resolvedConfig(at: 0)?.sshG ?? [])           // what ssh -G would print for db-1
}

/// README.md
func readmeCopies(client: ParallelSSHClient) async throws {
    try await client.copyFile("dist/app.tar.gz", to: "/opt/app/app.tar.gz")            // SFTP upload, every host
    try await client.copyRemoteFile("/var/log/syslog", to: "logs/syslog")             // logs/syslog_web1, logs/syslog_web2, ...
    try await client.scpSend("conf", to: "/etc/app", recurse: true, overwrite: true)  // SCP, a directory tree
    try await client.scpRecv("/etc/app", to: "backup/app", recurse: true)
}

/// README.md
func readmeEngine() async throws {
    let backend: any SSHBackend = LibSSH2Backend()   // or LibSSHBackend()
    let session = try await backend.connect(SSHConnectionOptions(
        host: "web1", user: "deploy", authMethods: [.privateKeyFile(path: "~/.ssh/id_ed25519")]))
    let channel = try await session.exec("uname -a")
    for try await chunk in channel.stdout { print(String(decoding: chunk, as: UTF8.self), terminator: "") }
    print(try await channel.exitStatus())     // exit 0, or e.g. "killed by SIGTERM"
    await session.close()
}

/// Sources/ParallelFrontend/ParallelFrontend.docc/GettingStarted.md
func gettingStartedRun() async throws {
    let client = try ParallelSSHClient(hosts: ["web1", "web2"],
                                       config: HostConfig(user: "deploy", privateKey: .file("~/.ssh/id_ed25519")))
    let output = try await client.runCommand("uname -r", stopOnErrors: false)
    for host in output {
        do {
            for try await line in host.stdout { print("\(host.host): \(line)") }
            print("\(host.host) exited with \(host.exitCode.map(String.init) ?? "no code")")
        } catch {
            print("\(host.host) failed: \(error)")   // a host that could not run the command throws its error here
        }
    }
}

/// Sources/ParallelFrontend/ParallelFrontend.docc/GettingStarted.md
func gettingStartedCopies(client: ParallelSSHClient) async throws {
    try await client.copyFile("dist/app.tar.gz", to: "/opt/app/app.tar.gz")   // SFTP upload to every host
    try await client.copyRemoteFile("/var/log/syslog", to: "logs/syslog")    // logs/syslog_web1, logs/syslog_web2
}
