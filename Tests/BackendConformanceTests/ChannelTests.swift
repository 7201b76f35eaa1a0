import SSHBackend
import SSHTestSupport
import Testing

@Suite("Channels and sessions", .timeLimit(.minutes(5)))
struct ChannelTests {
    @Test("several channels one after another on one session", arguments: Engine.all)
    func sequentialChannels(engine: Engine) async throws {
        let session = try await engine.connect()
        for index in 0..<10 {
            #expect(try await run(session, "echo \(index)").stdout == "\(index)\n")
        }
        await session.close()
    }

    @Test(
        "a channel the server refuses (MaxSessions 1) fails alone: the command already running goes on to its end",
        arguments: Engine.all)
    func refusedOpenLeavesOthers(engine: Engine) async throws {
        let server = try await TestSSHServer.start(host: "127.0.0.2", extraConfig: ["MaxSessions 1"])
        defer { server.stop() }
        let session = try await engine.connect(to: server)
        // Lock-step: the first command waits for a line, so it runs while the second open is refused.
        let first = try await session.exec("echo started; read line; echo got $line")
        var lines = first.stdout.makeAsyncIterator()
        #expect(try await lines.next().map { String(decoding: $0, as: UTF8.self) } == "started\n")
        await expectSSHError(.channelOpenRefused) { try await session.exec("echo second") }
        // A refused channel has no number of the server's: nothing must close the server's channel 0 (this one).
        try await first.write(Array("ok\n".utf8))
        var rest = ""
        while let chunk = try await lines.next() { rest += String(decoding: chunk, as: UTF8.self) }
        #expect(rest == "got ok\n")
        #expect(try await first.exitStatus() == SSHExitStatus(code: 0))
        await session.close()
    }

    @Test("channels opened at the same time are distinct and run concurrently", arguments: Engine.all)
    func concurrentChannels(engine: Engine) async throws {
        // Regression: with libssh2, a second open issued while the first is pending completes the first and
        // returns the same channel; the engine must serialise opens per session.
        let session = try await engine.connect()
        // A barrier: each command marks itself started, then waits (up to 30 s) until all 8 have started. Channels
        // that did not run at the same time would never all see 8 marks.
        let barrier = "/tmp/pssh-barrier-\(UInt64.random(in: 0...UInt64.max))"
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let command = """
                        mkdir -p \(barrier); touch \(barrier)/\(index); n=0
                        while [ "$(ls \(barrier) | wc -l)" -lt 8 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
                        echo "channel-\(index) saw $(ls \(barrier) | wc -l)"
                        """
                    return try await run(session, command).stdout
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        _ = try await run(session, "rm -rf \(barrier)")
        #expect(Set(outputs) == Set((0..<8).map { "channel-\($0) saw 8\n" }))
        await session.close()
    }

    @Test("sessions come and go without disturbing others", arguments: Engine.all)
    func independentSessions(engine: Engine) async throws {
        // Regression: library-wide init/exit per session (libssh2_exit) breaks every other live session.
        let longLived = try await engine.connect()
        for _ in 0..<3 {
            let shortLived = try await engine.connect()
            _ = try await run(shortLived, "true")
            await shortLived.close()
        }
        let many = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<10 {
                group.addTask {
                    let session = try await engine.connect()
                    defer { Task { await session.close() } }
                    return try await run(session, "echo \(index)").stdout
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(many.count == 10)
        #expect(try await run(longLived, "echo still-here").stdout == "still-here\n")
        await longLived.close()
    }

    @Test("the server killing the connection mid-command: clear error, earlier output kept", arguments: Engine.all)
    func connectionKilled(engine: Engine) async throws {
        let session = try await engine.connect()
        // The kill waits for our word on stdin, so it never races the exec reply or the first output.
        let channel = try await session.exec("echo before; read go; kill -9 $PPID; sleep 5; echo after")
        var received: [UInt8] = []
        do {
            for try await chunk in channel.stdout {
                received += chunk
                if received == Array("before\n".utf8) { try await channel.write(Array("go\n".utf8)) }
            }
            Issue.record("stdout ended without an error")
        } catch let error as SSHError {
            #expect(error.code == .connectionLost, "got \(error)")
            #expect(error.host == TestSSHServer.shared.host)
        }
        #expect(String(decoding: received, as: UTF8.self) == "before\n")
        await expectSSHError(.connectionLost) { try await channel.exitStatus() }
        await expectSSHError(.connectionLost) { try await session.exec("true") }
        await session.close()
    }

    @Test("closing a session ends its channels and refuses new ones", arguments: Engine.all)
    func closeSession(engine: Engine) async throws {
        let session = try await engine.connect()
        let channel = try await session.exec("sleep 30")
        await session.close()
        await expectSSHError(.sessionClosed) { try await channel.exitStatus() }
        await expectSSHError(.sessionClosed) { try await session.exec("true") }
        await session.close()  // idempotent
    }

    @Test("closing a channel early ends its streams", arguments: Engine.all)
    func closeChannel(engine: Engine) async throws {
        let session = try await engine.connect()
        let channel = try await session.exec("yes")
        var iterator = channel.stdout.makeAsyncIterator()
        #expect(try await iterator.next()?.isEmpty == false)
        await channel.close()
        // The stream ends after what was already buffered.
        while try await iterator.next() != nil {}
        #expect(try await run(session, "echo next").stdout == "next\n")
        await session.close()
    }

    @Test(
        "closing a running command: its exit status fails at once, without waiting for the command",
        arguments: Engine.all)
    func exitStatusAfterClose(engine: Engine) async throws {
        let session = try await engine.connect()
        let channel = try await session.exec("sleep 30")
        let started = ContinuousClock.now
        await channel.close()
        let error = await expectSSHError(.sessionClosed) { try await channel.exitStatus() }
        #expect(error?.description.contains("before the command ended") == true)
        // Not by the command's end 30 s later (the bound is that, which no load reaches).
        #expect(ContinuousClock.now - started < .seconds(25))
        await expectSSHError(.sessionClosed) { try await channel.write(Array("late".utf8)) }
        await session.close()
    }

    @Test("cancelling a wait for the exit status returns promptly", arguments: Engine.all)
    func cancelExitWait(engine: Engine) async throws {
        let session = try await engine.connect()
        // A wait that ignored cancellation would last 300 s, past the suite's time limit.
        let channel = try await session.exec("sleep 300")
        let waiter = Task { try await channel.exitStatus() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        await session.close()
    }
}
