import Foundation
import SSHBackend
import SSHFileTransfer
import SSHTestSupport
import Testing

/// Jump hosts in-process (OpenSSH's ProxyJump): the target's connection runs over a `direct-tcpip` channel of
/// the jump host's session, pumped through a socket pair, on both engines.
@Suite("Jump hosts", .timeLimit(.minutes(10)))
struct JumpHostTests {
    @Test(
        "through one jump host: commands and output, the jump's sshd opened the tunnel, both host keys checked",
        arguments: Engine.all)
    func oneHop(engine: Engine) async throws {
        let (jump, target, session) = try await Self.throughJump(engine, jumpConfig: ["LogLevel DEBUG1"])
        defer {
            jump.stop()
            target.stop()
        }
        let result = try await run(session, "set -- $SSH_CONNECTION; echo $3 $4; head -c 3000000 /dev/zero | wc -c")
        #expect(result.stdout == "\(target.host) \(target.port)\n3000000\n")
        await session.close()
        try await waitUntil("the jump sshd logs the tunnel") { jump.log.contains("direct-tcpip") }
    }

    /// A jump sshd on 127.0.0.2, a target on 127.0.0.3, and a session to the target through the jump.
    static func throughJump(_ engine: Engine, jumpConfig: [String] = []) async throws
        -> (jump: TestSSHServer, target: TestSSHServer, session: any SSHSession)
    {
        let jump = try await TestSSHServer.start(host: "127.0.0.2", extraConfig: jumpConfig)
        let target = try await TestSSHServer.start(host: "127.0.0.3")
        var options = target.options()
        options.jumpHosts = [jump.options()]
        do {
            return (jump, target, try await engine.backend.connect(options))
        } catch {
            jump.stop()
            target.stop()
            throw error
        }
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

    @Test(
        "a jump host that forbids forwarding, is refused, or whose key is unknown or changed fails naming the hop, before the target is tried; loops are refused",
        arguments: Engine.all)
    func failures(engine: Engine) async throws {
        let closed = try await TestSSHServer.start(host: "127.0.0.2", extraConfig: ["AllowTcpForwarding no"])
        defer { closed.stop() }
        let target = try await TestSSHServer.start(host: "127.0.0.3")
        defer { target.stop() }
        var options = target.options()
        let hopName = "\(TestUser.name)@\(closed.host):\(closed.port)"
        options.jumpHosts = [closed.options()]
        let forbidden = await expectSSHError(.permissionDenied) { try await engine.backend.connect(options) }
        #expect(
            forbidden?.host == target.host && forbidden?.jumpHost == hopName && forbidden?.isJumpHostFailure == false)
        #expect(
            forbidden?.message.contains("tunnel to \(target.host):\(target.port)") == true,
            "\(forbidden.map { "\($0)" } ?? "")")
        #expect(forbidden?.message.contains("prohibited") == true)

        // Nothing listens at the hop's address: the hop's refusal, as the target's error naming the hop.
        let silent = try FreePort.find(host: "127.0.0.2")
        var refusedHop = closed.options()
        refusedHop.port = silent
        options.jumpHosts = [refusedHop]
        let refused = await expectSSHError(.connectionRefused) { try await engine.backend.connect(options) }
        #expect(refused?.host == target.host && refused?.port == target.port)
        #expect(refused?.jumpHost == "\(TestUser.name)@127.0.0.2:\(silent)" && refused?.isJumpHostFailure == true)
        #expect("\(refused.map { "\($0)" } ?? "")".contains("via \(TestUser.name)@127.0.0.2:\(silent)"))

        var unknownHop = closed.options()
        unknownHop.hostKeyPolicy = SSHHostKeyPolicy(userKnownHostsFiles: ["/dev/null"], globalKnownHostsFiles: [])
        options.jumpHosts = [unknownHop]
        let unknown = await expectSSHError(.hostKeyUnknown) { try await engine.backend.connect(options) }
        #expect(unknown?.jumpHost == hopName && unknown?.isJumpHostFailure == true)
        #expect(unknown?.message.contains(closed.host) == true, "the hop's own name: \(unknown.map { "\($0)" } ?? "")")

        // The hop's key changed: refused before any byte reaches the target.
        let dir = try scratchDirectory("jump-changed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let other = try String(contentsOfFile: TestKeys.shared.otherHostKeys.ed25519 + ".pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        try "[\(closed.host)]:\(closed.port) \(other)\n".write(
            toFile: dir + "/known_hosts", atomically: true, encoding: .utf8)
        var changedHop = closed.options()
        changedHop.hostKeyPolicy = SSHHostKeyPolicy(
            userKnownHostsFiles: [dir + "/known_hosts"], globalKnownHostsFiles: [])
        options.jumpHosts = [changedHop]
        let contactsBefore = target.log.components(separatedBy: "Connection from").count
        let changed = await expectSSHError(.hostKeyChanged) { try await engine.backend.connect(options) }
        #expect(changed?.jumpHost == hopName && changed?.isJumpHostFailure == true && changed?.host == target.host)
        #expect(
            target.log.components(separatedBy: "Connection from").count == contactsBefore,
            "the target was never contacted:\n\(target.log)")

        // A chain that comes back to a host it passed is refused before any connection.
        options.jumpHosts = [closed.options(), target.options(), closed.options()]
        let loop = await expectSSHError(.invalidArgument) { try await engine.backend.connect(options) }
        #expect(loop?.message.contains("passes a host twice") == true)
    }

    @Test(
        "the jump host cannot reach the target: its refusal is the target's error, naming the hop",
        arguments: Engine.all)
    func targetRefusedAtJump(engine: Engine) async throws {
        let jump = try await TestSSHServer.start(host: "127.0.0.2")
        defer { jump.stop() }
        var options = jump.options()
        options.host = "127.0.0.3"
        options.port = try FreePort.find(host: "127.0.0.3")
        options.jumpHosts = [jump.options()]
        let refused = await expectSSHError(.connectionRefused) { try await engine.backend.connect(options) }
        #expect(refused?.host == "127.0.0.3" && refused?.port == options.port)
        #expect(
            refused?.jumpHost == "\(TestUser.name)@\(jump.host):\(jump.port)" && refused?.isJumpHostFailure == false)
        #expect(
            refused?.message.contains("could not open a tunnel to 127.0.0.3:\(options.port)") == true,
            "\(refused.map { "\($0)" } ?? "")")
    }

    @Test(
        "the jump connection killed mid-command: the target fails with connectionLost naming the hop, output before kept",
        arguments: Engine.all)
    func jumpKilledMidCommand(engine: Engine) async throws {
        let (jump, target, session) = try await Self.throughJump(engine)
        defer {
            jump.stop()
            target.stop()
        }
        let channel = try await session.exec("echo before; sleep 30; echo after")
        var lines = channel.stdout.makeAsyncIterator()
        let first = try await lines.next()
        #expect(first.map { String(decoding: $0, as: UTF8.self) } == "before\n")
        for pid in jump.sessionProcesses { kill(pid, SIGKILL) }
        let started = ContinuousClock.now
        let lost = await expectSSHError(.connectionLost) {
            while try await lines.next() != nil {}
        }
        // Noticed from the hop's socket, not by the remote `sleep 30` ending or the 30 s operation timeout: the
        // bound is the first of those (no load makes a closed socket take that long).
        #expect(ContinuousClock.now - started < .seconds(25))
        #expect(lost?.host == target.host && lost?.jumpHost == "\(TestUser.name)@\(jump.host):\(jump.port)")
        #expect(lost?.isJumpHostFailure == true)
        #expect(lost?.message.contains("jump host") == true, "\(lost.map { "\($0)" } ?? "")")
        await session.close()
    }

    @Test(
        "twenty targets at once through one jump host share one jump connection, closed after the last",
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
        #expect(
            jump.log.components(separatedBy: "Accepted publickey").count - 1 == 1, "one jump connection:\n\(jump.log)")
        for session in sessions { await session.close() }
        // The jump connection closes after the last tunnel through it.
        try await waitUntil("the jump connection closed") { jump.log.contains("Disconnected from user") }
    }
}

/// Jump hosts over real network boundaries: the hop sits in a network namespace of the test's own, and the
/// targets listen on that namespace's loopback, so only a tunnel through the hop reaches them.
@Suite(
    "Jump hosts across a network boundary", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)),
    .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
struct JumpHostNamespaceTests {
    @Test(
        "a target reachable only through the jump host: direct fails, one hop works, the jump's loopback is the target's",
        arguments: Engine.all)
    func onlyThroughTheJump(engine: Engine) async throws {
        let network = try await offPool { try NetworkNamespace() }
        defer { network.remove() }
        let jump = try await TestSSHServer.start(host: network.insideAddress, namespace: network)
        defer { jump.stop() }
        let target = try await TestSSHServer.start(host: "127.0.0.1", namespace: network)
        defer { target.stop() }
        // From here, 127.0.0.1 is our own loopback: the target is not there.
        await #expect(throws: SSHError.self) {
            _ = try await engine.backend.connect(target.options(connectTimeout: .seconds(3)))
        }
        var options = target.options()
        options.jumpHosts = [jump.options()]
        let session = try await engine.backend.connect(options)
        let result = try await run(session, "set -- $SSH_CONNECTION; echo $1 $3 $4")
        #expect(result.stdout == "127.0.0.1 127.0.0.1 \(target.port)\n", "the hop connected from inside the namespace")
        await session.close()
    }

    @Test("100 MB over SFTP through two hops, both ways, content compared with cmp", arguments: Engine.all)
    func sftpThroughTwoHops(engine: Engine) async throws {
        try await Exclusive.run {
            let network = try await offPool { try NetworkNamespace() }
            defer { network.remove() }
            let first = try await TestSSHServer.start(host: network.insideAddress, namespace: network)
            defer { first.stop() }
            let second = try await TestSSHServer.start(host: "127.0.0.2", namespace: network)
            defer { second.stop() }
            let target = try await TestSSHServer.start(host: "127.0.0.3", namespace: network)
            defer { target.stop() }
            var options = target.options()
            options.jumpHosts = [first.options(), second.options()]
            let session = try await engine.backend.connect(options)
            let dir = try scratchDirectory("jump-sftp")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            _ = try await offPool {
                try ProcessRunner.run(["/bin/sh", "-c", "head -c 100000000 /dev/urandom > '\(dir)/big'"])
            }
            let sftp = try await session.openSFTP()
            try await sftp.upload(from: "\(dir)/big", to: "\(dir)/big-remote", progress: nil)
            try await sftp.download(from: "\(dir)/big-remote", to: "\(dir)/big-back", progress: nil)
            await sftp.close()
            #expect(try await filesEqual("\(dir)/big", "\(dir)/big-remote"))
            #expect(try await filesEqual("\(dir)/big", "\(dir)/big-back"))
            #expect(second.log.contains("Accepted publickey"), "the second hop carried the target")
            await session.close()
        }
    }
}
