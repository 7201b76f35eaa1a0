import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHTestSupport
import Testing

/// The local agent forwarded to the host (`ssh -A`): the host's `ssh-add -l` and a second hop from there use it,
/// each request a channel the server opens and the loop carries to the local agent. `ssh -A`, with the same agent,
/// key and known hosts, is the oracle.
@Suite("Agent forwarding", .timeLimit(.minutes(5)))
struct AgentForwardingTests {
    /// A command the host runs: the agent's keys, asked for twenty times (twenty agent channels, one after
    /// another), counted; then a second hop to `hop` that has nothing but the forwarded agent to log in with.
    static func command(hop: TestSSHServer) -> String {
        let second =
            "ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile=\(TestKeys.shared.knownHosts) "
            + "-o GlobalKnownHostsFile=/dev/null -p \(hop.port) \(TestUser.name)@\(hop.host) echo second hop"
        return "for i in $(seq 20); do ssh-add -l; done | sort | uniq -c | sed 's/^ *//'; \(second) 2>&1"
    }

    @Test(
        "forwardAgent: the host's ssh-add -l lists the local agent's key twenty times over and a second hop logs in with it, as with ssh -A; libssh2 refuses it by name",
        arguments: FrontendEngine.all)
    func forwarded(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let agent = try await TestAgent.start(keys: [TestKeys.shared.ed25519])
        defer { agent.stop() }
        var config = Fleet.config(port: servers[0].port)
        config.forwardAgent = .socket(agent.socketPath)
        guard engine.backend.supports(.agentForwarding) else {
            let error = #expect(throws: SSHError.self) {
                _ = try ParallelSSHClient(hosts: [servers[0].host], backend: engine.backend, config: config)
            }
            #expect(error?.code == .unsupported && error?.message.contains("use the libssh engine") == true)
            return
        }
        let command = Self.command(hop: servers[1])
        let ssh = try await offPool {
            try ProcessRunner.outcome(
                [
                    "/usr/bin/ssh", "-F", "/dev/null", "-A", "-o", "BatchMode=yes", "-i", TestKeys.shared.ed25519,
                    "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=\(TestKeys.shared.knownHosts)",
                    "-p", "\(servers[0].port)", "\(TestUser.name)@\(servers[0].host)", command,
                ], environment: ["SSH_AUTH_SOCK": agent.socketPath])
        }
        let expected = ssh.output.split(separator: "\n").map(String.init)
        let fingerprint = try ProcessRunner.run(["/usr/bin/ssh-keygen", "-lf", TestKeys.shared.ed25519 + ".pub"])
        let key = fingerprint.split(separator: " ").prefix(2).joined(separator: " ")
        #expect(ssh.status == 0 && expected.count == 2, "ssh -A, the oracle: \(ssh.output)")
        #expect(expected.first?.hasPrefix("20 \(key)") == true && expected.last == "second hop", "\(expected)")

        let client = try ParallelSSHClient(hosts: [servers[0].host], backend: engine.backend, config: config)
        let output = try await client.runCommand(command)
        var lines: [String] = []
        for try await line in output[0].stdout { lines.append(line) }
        try await client.join()
        #expect(lines == expected)
        #expect(output[0].exitCode == 0)
        await client.disconnect()
    }

    @Test(
        "off unless asked: no agent on the host; ssh_config's ForwardAgent with a socket path forwards it (libssh), and an engine that cannot carry it runs the command without it",
        arguments: FrontendEngine.all)
    func offUnlessAsked(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let agent = try await TestAgent.start(keys: [TestKeys.shared.ed25519])
        defer { agent.stop() }
        let probe = "ssh-add -l >/dev/null 2>&1; echo \"agent $?\""  // 0: keys listed; 2: no agent to ask

        let plain = try ParallelSSHClient(
            hosts: [servers[0].host], backend: engine.backend, config: Fleet.config(port: servers[0].port))
        let off = try await plain.runCommand(probe)
        var lines: [String] = []
        for try await line in off[0].stdout { lines.append(line) }
        #expect(lines == ["agent 2"])
        await plain.disconnect()

        var config = Fleet.config(port: servers[0].port)
        var source = SSHConfigSource.disabled
        source.options = ["ForwardAgent=\(agent.socketPath)"]
        config.sshConfig = source
        let fromFile = try ParallelSSHClient(hosts: [servers[0].host], backend: engine.backend, config: config)
        let output = try await fromFile.runCommand(probe)
        lines = []
        for try await line in output[0].stdout { lines.append(line) }
        #expect(lines == [engine.backend.supports(.agentForwarding) ? "agent 0" : "agent 2"])
        #expect(output[0].exitCode == 0)
        await fromFile.disconnect()
    }
}
