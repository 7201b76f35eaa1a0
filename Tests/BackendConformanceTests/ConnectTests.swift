import Foundation
import SSHBackend
import SSHEventLoop
import SSHTestSupport
import Testing

@Suite("Connecting", .timeLimit(.minutes(5)))
struct ConnectTests {
    @Test("a refused port fails as connectionRefused naming host and port", arguments: Engine.all)
    func refused(engine: Engine) async throws {
        let port = try FreePort.find(host: "127.0.0.1")
        let options = SSHConnectionOptions(
            host: "127.0.0.1", port: port, authMethods: [.password("x")],
            hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let error = await expectSSHError(.connectionRefused) { try await engine.backend.connect(options) }
        #expect(error?.host == "127.0.0.1")
        #expect(error?.port == port)
    }

    @Test("an unresolvable name fails as unknownHost", arguments: Engine.all)
    func unknownHost(engine: Engine) async throws {
        let options = SSHConnectionOptions(
            host: "no-such-host.invalid", authMethods: [.password("x")],
            hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let error = await expectSSHError(.unknownHost) { try await engine.backend.connect(options) }
        #expect(error?.host == "no-such-host.invalid")
    }

    @Test(
        "a server that never sends a banner fails at its connect deadline, exactly (virtual time)",
        arguments: Engine.all)
    func silentServer(engine: Engine) async throws {
        let blackhole = try BlackholeListener()
        let clock = ManualClock()
        let backend = engine.onClock(clock)
        let options = SSHConnectionOptions(
            host: blackhole.host, port: blackhole.port, authMethods: [.password("x")],
            connectTimeout: .milliseconds(800), operationTimeout: .seconds(30),
            hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let connect = Task { try await backend.connect(options) }
        // The client sent its identification: it is waiting for the server's.
        #expect(try await blackhole.acceptClientHello().hasPrefix("SSH-2.0-"))
        // The connect deadline bounds the wait for the banner too, as OpenSSH's ConnectTimeout does.
        #expect(await clock.advance(by: .milliseconds(799)) == [])
        #expect(await clock.advance(by: .milliseconds(1)) == ["operation deadline"])
        let error = await expectSSHError(.timeout) { try await connect.value }
        #expect(error?.message.contains("handshake") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.message.contains("0.8 seconds") == true, "\(error.map { "\($0)" } ?? "")")
    }

    @Test(
        "cancelling a connect that waits for a banner ends it, with no deadline to end it otherwise",
        arguments: Engine.all)
    func cancelConnect(engine: Engine) async throws {
        let blackhole = try BlackholeListener()
        // Time stands still: only the cancellation can end this connect.
        let backend = engine.onClock(ManualClock())
        let options = SSHConnectionOptions(
            host: blackhole.host, port: blackhole.port, authMethods: [.password("x")],
            connectTimeout: .seconds(60), operationTimeout: .seconds(60),
            hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
        let task = Task { try await backend.connect(options) }
        try await blackhole.acceptClientHello()
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
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
        defer { for server in servers { server.stop() } }
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

    @Test("a live peer that is quiet for several keepalive intervals is not given up", arguments: Engine.all)
    func quietPeer(engine: Engine) async throws {
        let server = try await TestSSHServer.start(host: "127.0.0.2")
        defer { server.stop() }
        var options = server.options()
        options.keepaliveInterval = .seconds(2)
        options.keepaliveCountMax = 3
        // A command silent for 7 s (three keepalive rounds, each answered) ends normally.
        let quiet = try await engine.backend.connect(options)
        #expect(try await run(quiet, "sleep 7; echo done").stdout == "done\n")
        await quiet.close()
    }

    @Test(
        "a peer that stops answering is given up at ServerAliveInterval x (CountMax + 1), exactly (virtual time)",
        arguments: Engine.all)
    func deadPeer(engine: Engine) async throws {
        let server = try await TestSSHServer.start(host: "127.0.0.2")
        defer { server.stop() }
        let clock = ManualClock()
        var options = server.options()
        options.keepaliveInterval = .seconds(2)
        options.keepaliveCountMax = 2
        let session = try await engine.onClock(clock).connect(options)
        let channel = try await session.exec("sleep 60")
        // A frozen peer: its sshd processes stopped (TCP still up, no SSH answer).
        let frozen = try await server.waitForSessionProcesses(running: "sleep 60")
        for pid in frozen { kill(pid, SIGSTOP) }
        defer { for pid in frozen { kill(pid, SIGCONT) } }
        // The first tick finds the exec's traffic; the next two send unanswered keepalives; the fourth gives up.
        #expect(await clock.advance(by: .seconds(6)) == ["keepalive", "keepalive", "keepalive"])
        #expect(await clock.advance(by: .seconds(2)) == ["keepalive"])
        let error = await expectSSHError(.connectionLost) { try await channel.exitStatus() }
        #expect(error?.message.contains("keepalive") == true, "\(error.map { "\($0)" } ?? "")")
        // Given up: no keepalive is armed any more.
        #expect(await clock.advance(by: .seconds(10)) == [])
        await session.close()
    }

    @Test(
        "a server past MaxStartups turns the connection away before its banner: closedBeforeBanner naming the host",
        arguments: Engine.all)
    func turnedAwayBeforeBanner(engine: Engine) async throws {
        // Two connections that never send a byte hold both of sshd's unauthenticated slots ("MaxStartups 2:100:2":
        // past two, every new connection is dropped at once).
        let server = try await TestSSHServer.start(host: "127.0.0.3", extraConfig: ["MaxStartups 2:100:2"])
        defer { server.stop() }
        // Nothing holds a slot yet (sshd's title counts them).
        try await waitUntil("the start-up probe's slot freed") { server.unauthenticatedConnections == 0 }
        let holders = try (0..<2).map { _ in try TestTCPConnection(host: server.host, port: server.port) }
        try await waitUntil("both silent connections hold a slot") { server.unauthenticatedConnections == 2 }
        #expect(!server.log.contains("past MaxStartups"), "both silent connections hold a slot")
        let error = await expectSSHError(.closedBeforeBanner) { try await engine.backend.connect(server.options()) }
        #expect(error?.host == server.host && error?.port == server.port)
        #expect(error?.message.contains("MaxStartups") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(server.log.contains("past MaxStartups"), "sshd says it dropped the connection")
        for holder in holders { holder.close() }
        try await waitUntil("the slots freed") { server.unauthenticatedConnections == 0 }
        let session = try await engine.backend.connect(server.options())
        #expect(try await run(session, "echo in").stdout == "in\n")
        await session.close()
    }
}
