import Foundation
import SSHBackend
import SSHTestSupport
import Testing

@Suite("Connecting")
struct ConnectTests {
    @Test("a refused port fails as connectionRefused naming host and port", arguments: Engine.all)
    func refused(engine: Engine) async throws {
        let port = try FreePort.find(host: "127.0.0.1")
        let options = SSHConnectionOptions(host: "127.0.0.1", port: port, authMethods: [.password("x")],
                                           hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let error = await expectSSHError(.connectionRefused) { try await engine.backend.connect(options) }
        #expect(error?.host == "127.0.0.1")
        #expect(error?.port == port)
    }

    @Test("an unresolvable name fails as unknownHost", arguments: Engine.all)
    func unknownHost(engine: Engine) async throws {
        let options = SSHConnectionOptions(host: "no-such-host.invalid", authMethods: [.password("x")],
                                           hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let error = await expectSSHError(.unknownHost) { try await engine.backend.connect(options) }
        #expect(error?.host == "no-such-host.invalid")
    }

    @Test("a server that never sends a banner fails at its deadline", arguments: Engine.all)
    func silentServer(engine: Engine) async throws {
        try await Exclusive.run { try await silentServerAlone(engine: engine) }
    }

    private func silentServerAlone(engine: Engine) async throws {
        let blackhole = try BlackholeListener()
        let options = SSHConnectionOptions(host: blackhole.host, port: blackhole.port, authMethods: [.password("x")],
                                           connectTimeout: .milliseconds(800), operationTimeout: .seconds(30),
                                           hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        // The connect deadline bounds the wait for the banner too, as OpenSSH's ConnectTimeout does.
        let clock = ContinuousClock()
        let start = clock.now
        let error = await expectSSHError(.timeout) { try await engine.backend.connect(options) }
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(700))
        #expect(elapsed < .seconds(5), "took \(elapsed)")
        #expect(error?.message.contains("handshake") == true)
    }

    @Test("cancelling a hanging connect ends it promptly", arguments: Engine.all)
    func cancelConnect(engine: Engine) async throws {
        try await Exclusive.run { try await cancelConnectAlone(engine: engine) }
    }

    private func cancelConnectAlone(engine: Engine) async throws {
        let blackhole = try BlackholeListener()
        let options = SSHConnectionOptions(host: blackhole.host, port: blackhole.port, authMethods: [.password("x")],
                                           connectTimeout: .seconds(60), operationTimeout: .seconds(60),
                                           hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let task = Task { try await engine.backend.connect(options) }
        try await Task.sleep(for: .milliseconds(200))
        let clock = ContinuousClock()
        let start = clock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(clock.now - start < .seconds(10), "the deadline is 60 s: cancelling must not wait for it")
    }

    @Test("invalid arguments fail before any network work", arguments: Engine.all)
    func invalidArguments(engine: Engine) async throws {
        await expectSSHError(.invalidArgument) {
            try await engine.backend.connect(SSHConnectionOptions(host: "127.0.0.1", port: 0))
        }
        await expectSSHError(.invalidArgument) {
            try await engine.backend.connect(SSHConnectionOptions(host: ""))
        }
        await expectSSHError(.invalidArgument) {
            try await engine.backend.connect(SSHConnectionOptions(host: "127.0.0.1", authMethods: []))
        }
    }

    @Test("servers on several loopback addresses", arguments: Engine.all)
    func severalAddresses(engine: Engine) async throws {
        var servers: [TestSSHServer] = []
        for host in ["127.0.0.2", "127.0.0.3"] { servers.append(try await TestSSHServer.start(host: host)) }
        defer { servers.forEach { $0.stop() } }
        for server in servers {
            let session = try await engine.connect(to: server)
            let result = try await run(session, "echo $SSH_CONNECTION")
            #expect(result.stdout.contains(server.host))
            await session.close()
        }
    }

    @Test("keepalive and compression options connect and run", arguments: Engine.all)
    func keepaliveAndCompression(engine: Engine) async throws {
        var options = TestSSHServer.shared.options()
        options.keepaliveInterval = .seconds(2)
        options.compression = true
        let session = try await engine.backend.connect(options)
        let result = try await run(session, "sleep 2.5; echo alive")
        #expect(result.stdout == "alive\n")
        await session.close()
    }

    @Test("a peer that stops answering is reported within ServerAliveInterval x (CountMax + 1); a quiet one is not",
          arguments: Engine.all)
    func deadPeer(engine: Engine) async throws {
        try await Exclusive.run {
            let server = try await TestSSHServer.start(host: "127.0.0.2")
            defer { server.stop() }
            var options = server.options()
            options.keepaliveInterval = .seconds(1)
            options.keepaliveCountMax = 2
            // A quiet but live peer: a command silent for 4 s (four keepalive rounds) ends normally.
            let quiet = try await engine.backend.connect(options)
            #expect(try await run(quiet, "sleep 4; echo done").stdout == "done\n")
            await quiet.close()
            // A frozen peer: its sshd processes stopped (TCP still up, no SSH answer).
            let session = try await engine.backend.connect(options)
            let channel = try await session.exec("sleep 60")
            try await Task.sleep(for: .milliseconds(200))
            let frozen = server.sessionProcesses
            #expect(!frozen.isEmpty)
            for pid in frozen { kill(pid, SIGSTOP) }
            defer { for pid in frozen { kill(pid, SIGCONT) } }
            let started = ContinuousClock.now
            let error = await expectSSHError(.connectionLost) { try await channel.exitStatus() }
            let waited = ContinuousClock.now - started
            #expect(waited < .seconds(8), "noticed after \(waited)")
            #expect(error?.message.contains("keepalive") == true, "\(error.map { "\($0)" } ?? "")")
            await session.close()
        }
    }

    @Test("a server past MaxStartups turns the connection away before its banner: closedBeforeBanner naming the host",
          arguments: Engine.all)
    func turnedAwayBeforeBanner(engine: Engine) async throws {
        // Two connections that never send a byte hold both of sshd's unauthenticated slots ("MaxStartups 2:100:2":
        // past two, every new connection is dropped at once).
        let server = try await TestSSHServer.start(host: "127.0.0.3", extraConfig: ["MaxStartups 2:100:2"])
        defer { server.stop() }
        // The start-up probe's connection must have left its slot first.
        let deadline = ContinuousClock.now + .seconds(5)
        while !server.log.contains("Connection closed by") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(200))
        let holders = try (0..<2).map { _ in try TestTCPConnection(host: server.host, port: server.port) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!server.log.contains("past MaxStartups"), "both silent connections hold a slot")
        let error = await expectSSHError(.closedBeforeBanner) { try await engine.backend.connect(server.options()) }
        #expect(error?.host == server.host && error?.port == server.port)
        #expect(error?.message.contains("MaxStartups") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(server.log.contains("past MaxStartups"), "sshd says it dropped the connection")
        holders.forEach { $0.close() }
        try await Task.sleep(for: .milliseconds(300))
        let session = try await engine.backend.connect(server.options())
        #expect(try await run(session, "echo in").stdout == "in\n")
        await session.close()
    }
}
