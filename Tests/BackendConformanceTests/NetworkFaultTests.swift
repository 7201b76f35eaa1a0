import Foundation
import SSHBackend
import SSHEventLoop
import SSHFileTransfer
import SSHTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Faults of a real network: the server sits in a network namespace of the test's own, and the link to it is
/// pulled (packets vanish, nothing is reset, as with a cable pulled, a frozen host or a NAT that forgot the
/// connection). Each fault must end in a typed error naming the host within its stated deadline, keeping what
/// arrived before it.
@Suite(
    "Network faults", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)),
    .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
struct NetworkFaultTests {
    /// Keepalive every 2 s (libssh2's shortest), dead after two unanswered, as OpenSSH's ServerAliveInterval 2
    /// with ServerAliveCountMax 2.
    static func keepaliveOptions(_ server: TestSSHServer) -> SSHConnectionOptions {
        var options = server.options()
        options.keepaliveInterval = .seconds(2)
        options.keepaliveCountMax = 2
        return options
    }

    /// After the link is pulled, on the engine's manual clock: the first tick finds what arrived before the pull,
    /// the next two send keepalives nobody answers, the fourth gives up: at 8 s, interval x (count + 2) from the
    /// last packet heard, exactly. Nothing else on that clock fires meanwhile (no operation deadline).
    static func expectKeepaliveGivesUp(_ clock: ManualClock) async {
        #expect(await clock.advance(by: .seconds(6)) == ["keepalive", "keepalive", "keepalive"])
        #expect(await clock.advance(by: .seconds(2)) == ["keepalive"])
    }

    @Test(
        "the link goes down during a command: connectionLost naming the host at the keepalive deadline (virtual time), output before it kept",
        arguments: Engine.all)
    func duringCommand(engine: Engine) async throws {
        try await Self.withServerBehindLink { network, server in
            let clock = ManualClock()
            let session = try await engine.onClock(clock).connect(Self.keepaliveOptions(server))
            let channel = try await session.exec("echo started; sleep 60; echo never")
            var lines = channel.stdout.makeAsyncIterator()
            #expect(try await lines.next() == Array("started\n".utf8))
            try await offPool { try network.setLink(up: false) }
            await Self.expectKeepaliveGivesUp(clock)
            let error = await expectSSHError(.connectionLost) { try await channel.exitStatus() }
            #expect(error?.host == server.host)
            #expect(error?.message.contains("keepalive") == true, "\(error.map { "\($0)" } ?? "")")
            await session.close()
        }
    }

    @Test(
        "the link goes down under an idle session: the next command fails at the keepalive deadline (virtual time)",
        arguments: Engine.all)
    func idleSession(engine: Engine) async throws {
        try await Self.withServerBehindLink { network, server in
            let clock = ManualClock()
            let session = try await engine.onClock(clock).connect(Self.keepaliveOptions(server))
            #expect(try await run(session, "echo up").stdout == "up\n")
            try await offPool { try network.setLink(up: false) }
            // The channel cannot open (the link is down); keepalive, not the 30 s operation timeout, ends it.
            let open = Task { try await session.exec("echo unreachable") }
            await Self.expectKeepaliveGivesUp(clock)
            let error = await expectSSHError(.connectionLost) { try await open.value }
            #expect(error?.host == server.host)
            #expect(error?.message.contains("keepalive") == true, "\(error.map { "\($0)" } ?? "")")
            await session.close()
        }
    }

    @Test(
        "the link goes down during a 100 MB download: connectionLost at the keepalive deadline (virtual time), no temporary file left",
        arguments: Engine.all.flatMap { engine in TransferProtocol.all.map { (engine, $0) } })
    func duringTransfer(engine: Engine, transfer: TransferProtocol) async throws {
        try await Exclusive.run {
            try await Self.withServerBehindLink { network, server in
                let dir = try scratchDirectory("fault-transfer")
                defer { try? FileManager.default.removeItem(atPath: dir) }
                _ = try await offPool {
                    try ProcessRunner.run(["/bin/sh", "-c", "head -c 100000000 /dev/urandom > '\(dir)/big'"])
                }
                let clock = ManualClock()
                let session = try await engine.onClock(clock).connect(Self.keepaliveOptions(server))
                // The link is pulled once 10 MB have arrived, from another thread, while the copy goes on.
                let pulled = Mutex(false)
                let down = Mutex(false)
                let progress: @Sendable (SSHTransferProgress) -> Void = { progress in
                    guard progress.bytesDone >= 10_000_000 else { return }
                    let first = pulled.withLock { pulled -> Bool in
                        defer { pulled = true }
                        return !pulled
                    }
                    if first {
                        Thread.detachNewThread {
                            try? network.setLink(up: false)
                            down.withLock { $0 = true }
                        }
                    }
                }
                let copy = Task {
                    if transfer.name == "sftp" {
                        let sftp = try await session.openSFTP()
                        try await sftp.download(from: "\(dir)/big", to: "\(dir)/copy", progress: progress)
                    } else {
                        try await session.scp().receive(from: "\(dir)/big", to: "\(dir)/copy", progress: progress)
                    }
                }
                try await waitUntil("the link pulled mid-copy") { down.withLock { $0 } }
                await Self.expectKeepaliveGivesUp(clock)
                let error = await expectSSHError(.connectionLost) { try await copy.value }
                #expect(error?.host == server.host)
                let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
                #expect(left == ["big"], "neither the copy nor its temporary file is left: \(left)")
                await session.close()
            }
        }
    }

    @Test(
        "the link goes down after TCP connected, before the server's banner: timeout naming the host, at exactly the connect timeout (virtual time)",
        arguments: Engine.all)
    func beforeBanner(engine: Engine) async throws {
        try await Self.withServerBehindLink { network, server in
            // The listener is frozen: the kernel completes the TCP handshake, nobody sends the banner yet.
            let listener = try #require(server.listenerProcess)
            kill(listener, SIGSTOP)
            defer { kill(listener, SIGCONT) }
            let clock = ManualClock()
            var options = server.options(connectTimeout: .seconds(2))
            options.keepaliveInterval = nil
            let attempt = Task { _ = try await engine.onClock(clock).connect(options) }
            // Our identification reached the server's socket: we are past TCP, in the handshake.
            try await waitUntil("the client's identification queued at the frozen server") {
                try await offPool { try network.bytesQueued(toPort: server.port) } > 0
            }
            try await offPool { try network.setLink(up: false) }
            kill(listener, SIGCONT)  // the banner now goes out, into the pulled link
            // Bounded by the 2 s connect timeout, not the 30 s operation timeout that used to bound the banner wait.
            #expect(await clock.advance(by: .milliseconds(1999)) == [])
            #expect(await clock.advance(by: .milliseconds(1)) == ["operation deadline"])
            let error = await expectSSHError(.timeout) { try await attempt.value }
            #expect(error?.host == server.host)
            #expect(error?.message.contains("handshake") == true, "\(error.map { "\($0)" } ?? "")")
        }
    }

    /// Runs `body` with an sshd in a new namespace, reachable at the namespace's link address, and tears both down.
    static func withServerBehindLink(_ body: (NetworkNamespace, TestSSHServer) async throws -> Void) async throws {
        let network = try await offPool { try NetworkNamespace() }
        defer { network.remove() }
        let server = try await TestSSHServer.start(host: network.insideAddress, namespace: network)
        defer { server.stop() }
        try await body(network, server)
    }
}
