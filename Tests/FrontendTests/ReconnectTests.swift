import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Servers that hang up between commands: TinySSH (one channel per connection), an sshd restarted, a NAT that
/// forgets. A connection lost while idle is made again for the next operation; a connection lost while a command
/// runs is that command's `connectionLost`, never retried behind the caller's back.
@Suite("Reconnecting after an idle connection was lost", .timeLimit(.minutes(5)))
struct ReconnectTests {
    @Test("five commands in a row on one client against TinySSH, which hangs up after each channel")
    func tinySSHFiveCommands() async throws {
        if let reason = InteropServer.Kind.tinyssh.unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
        let server = try await InteropServer.shared(.tinyssh)
        let engine = FrontendEngine.all.first { $0.backend.name == "libssh" }!  // libssh2 1.10 cannot talk to TinySSH
        let client = try SSHClient(
            host: server.host, backend: engine.backend,
            config: HostConfig(
                user: server.user, port: server.port, privateKey: .file(TestKeys.shared.ed25519), connectionAttempts: 1,
                allowAgent: false, identityAuth: false, hostKeyPolicy: TestKeys.shared.hostKeyPolicy,
                sshConfig: .disabled))
        for round in 1...5 {
            let output = try await client.runCommand("echo round \(round)")
            #expect(try await output.stdout.first { _ in true } == "round \(round)")
            try await output.waitFinished()
            #expect(output.exitCode == 0)
        }
        await client.disconnect()
    }

    @Test(
        "an sshd restarted between two commands (its sessions ended): the second command connects again",
        arguments: FrontendEngine.all)
    func restartBetweenCommands(engine: FrontendEngine) async throws {
        let first = try await TestSSHServer.start(host: "127.0.0.10")
        let client = try SSHClient(host: first.host, backend: engine.backend, config: Fleet.config(port: first.port))
        let before = try await client.runCommand("echo before")
        #expect(try await before.stdout.first { _ in true } == "before")
        try await before.waitFinished()
        let sessions = first.sessionProcesses
        first.stop()
        for pid in sessions { kill(pid, SIGTERM) }
        let second = try await TestSSHServer.start(host: first.host, port: first.port)
        defer { second.stop() }
        let after = try await client.runCommand("echo after")
        #expect(try await after.stdout.first { _ in true } == "after")
        await client.disconnect()
    }

    @Test(
        "a connection killed while a command runs fails that command; the next one connects again",
        arguments: FrontendEngine.all)
    func killedMidCommand(engine: FrontendEngine) async throws {
        let server = try await TestSSHServer.start(host: "127.0.0.10")
        defer { server.stop() }
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        let running = try await client.runCommand("echo started; exec sleep 60")
        #expect(try await running.stdout.first { _ in true } == "started")
        for pid in server.sessionProcesses { kill(pid, SIGKILL) }
        try await running.waitFinished()
        #expect(
            running.exitError?.code == .connectionLost,
            "\(running.exitError.map { "\($0)" } ?? "no error")")
        let next = try await client.runCommand("echo next")
        #expect(try await next.stdout.first { _ in true } == "next")
        await client.disconnect()
    }
}
