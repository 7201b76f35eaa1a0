import Foundation
import SSHBackend
import SSHTestSupport
import Testing

/// Jump hosts in-process (OpenSSH's ProxyJump): the target's connection runs over a `direct-tcpip` channel of
/// the jump host's session, pumped through a socket pair, on both engines.
@Suite("Jump hosts", .timeLimit(.minutes(2)))
struct JumpHostTests {
    @Test("through one jump host: commands and output, the jump's sshd opened the tunnel, both host keys checked",
          arguments: Engine.all)
    func oneHop(engine: Engine) async throws {
        let jump = try await TestSSHServer.start(host: "127.0.0.2", extraConfig: ["LogLevel DEBUG1"])
        defer { jump.stop() }
        let target = try await TestSSHServer.start(host: "127.0.0.3")
        defer { target.stop() }
        var options = target.options()
        options.jumpHosts = [jump.options()]
        let session = try await engine.backend.connect(options)
        let result = try await run(session, "set -- $SSH_CONNECTION; echo $3 $4; head -c 3000000 /dev/zero | wc -c")
        #expect(result.stdout == "\(target.host) \(target.port)\n3000000\n")
        await session.close()
        try await Task.sleep(for: .milliseconds(300))
        #expect(jump.log.contains("direct-tcpip"), "the jump sshd opened the tunnel")
    }

    @Test("through two jump hosts in a chain", arguments: Engine.all)
    func twoHops(engine: Engine) async throws {
        let first = try await TestSSHServer.sharedStarted
        let second = try await TestSSHServer.start(host: "127.0.0.2")
        defer { second.stop() }
        let target = try await TestSSHServer.start(host: "127.0.0.3")
        defer { target.stop() }
        var options = target.options()
        options.jumpHosts = [first.options(), second.options()]
        let session = try await engine.backend.connect(options)
        #expect(try await run(session, "echo through two").stdout == "through two\n")
        await session.close()
    }

    @Test("a jump host that forbids forwarding, or whose key is unknown, fails naming the cause; loops are refused",
          arguments: Engine.all)
    func failures(engine: Engine) async throws {
        let closed = try await TestSSHServer.start(host: "127.0.0.2", extraConfig: ["AllowTcpForwarding no"])
        defer { closed.stop() }
        let target = try await TestSSHServer.sharedStarted
        var options = target.options()
        options.jumpHosts = [closed.options()]
        let refused = await expectSSHError(.channelFailure) { try await engine.backend.connect(options) }
        #expect(refused?.message.contains("tunnel to \(target.host):\(target.port)") == true, "\(refused.map { "\($0)" } ?? "")")
        var unknownHop = closed.options()
        unknownHop.hostKeyPolicy = SSHHostKeyPolicy(userKnownHostsFiles: ["/dev/null"], globalKnownHostsFiles: [])
        options.jumpHosts = [unknownHop]
        let unknown = await expectSSHError(.hostKeyUnknown) { try await engine.backend.connect(options) }
        #expect(unknown?.host == closed.host, "the hop's own name")
        // A chain that comes back to a host it passed is refused before any connection.
        options.jumpHosts = [closed.options(), target.options(), closed.options()]
        let loop = await expectSSHError(.invalidArgument) { try await engine.backend.connect(options) }
        #expect(loop?.message.contains("passes a host twice") == true)
    }

    @Test("twenty targets at once through one jump host share one jump connection, closed after the last",
          arguments: Engine.all)
    func sharedJumpConnection(engine: Engine) async throws {
        let jump = try await TestSSHServer.start(host: "127.0.0.2")
        defer { jump.stop() }
        let targets = [try await TestSSHServer.sharedStarted, try await TestSSHServer.start(host: "127.0.0.3")]
        defer { targets[1].stop() }
        let sessions = try await withThrowingTaskGroup(of: (any SSHSession).self) { group in
            for index in 0..<20 {
                group.addTask {
                    var options = targets[index % 2].options()
                    options.jumpHosts = [jump.options()]
                    let session = try await engine.backend.connect(options)
                    #expect(try await run(session, "echo \(index)").stdout == "\(index)\n")
                    return session
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sessions.count == 20)
        #expect(jump.log.components(separatedBy: "Accepted publickey").count - 1 == 1, "one jump connection:\n\(jump.log)")
        for session in sessions { await session.close() }
        // The jump connection closes after the last tunnel through it.
        let deadline = ContinuousClock.now + .seconds(10)
        while !jump.log.contains("Disconnected from user") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(jump.log.contains("Disconnected from user"), "\(jump.log.suffix(800))")
    }
}
