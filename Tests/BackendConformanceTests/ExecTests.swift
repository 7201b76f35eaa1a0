import SSHBackend
import SSHTestSupport
import Testing

@Suite("Exec", .timeLimit(.minutes(5)))
struct ExecTests {
    @Test("stdout and stderr arrive separately", arguments: Engine.all)
    func separateStreams(engine: Engine) async throws {
        let session = try await engine.connect()
        let result = try await run(session, "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
        #expect(result.stdout == "out1\nout2\n")
        #expect(result.stderr == "err1\nerr2\n")
        #expect(result.exit == SSHExitStatus(code: 0))
        await session.close()
    }

    @Test("exit codes 0, 1, 42 and 255 are reported", arguments: Engine.all)
    func exitCodes(engine: Engine) async throws {
        let session = try await engine.connect()
        for code in [0, 1, 42, 255] as [Int32] {
            let result = try await run(session, "exit \(code)")
            #expect(result.exit.code == code)
            #expect(result.exit.signal == nil)
        }
        await session.close()
    }

    @Test("a command killed by a signal reports the signal, never a fake exit 0", arguments: Engine.all)
    func exitSignal(engine: Engine) async throws {
        let session = try await engine.connect()
        let result = try await run(session, "echo before; kill -TERM $$; echo after")
        #expect(result.stdout == "before\n")
        #expect(result.exit.signal == "TERM")
        #expect(result.exit.code == nil)
        await session.close()
    }

    @Test("stdin round trip through cat, ended by EOF", arguments: Engine.all)
    func stdinRoundTrip(engine: Engine) async throws {
        let session = try await engine.connect()
        let channel = try await session.exec("cat")
        let payload = (0..<2000).map { "line \($0) of stdin\n" }.joined()
        async let echoed = channel.stdout.collect()
        try await channel.write(Array(payload.utf8))
        try await channel.sendEOF()
        #expect(String(decoding: try await echoed, as: UTF8.self) == payload)
        #expect(try await channel.exitStatus().code == 0)
        await expectSSHError(.sessionClosed) { try await channel.write([1]) }
        await session.close()
    }

    @Test("a PTY with the requested terminal type and size", arguments: Engine.all)
    func pty(engine: Engine) async throws {
        let session = try await engine.connect()
        let result = try await run(
            session, "tty; echo $TERM; stty size; echo err >&2",
            pty: SSHPTYRequest(term: "xterm-256color", columns: 132, rows: 43))
        let lines = result.stdout.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.first?.hasPrefix("/dev/pts/") == true)
        #expect(lines.contains("xterm-256color"))
        #expect(lines.contains("43 132"))
        #expect(lines.contains("err"), "with a PTY, stderr is merged into stdout by the remote")
        #expect(result.stderr.isEmpty)
        await session.close()
    }

    @Test("without a PTY there is no terminal", arguments: Engine.all)
    func noPTY(engine: Engine) async throws {
        let session = try await engine.connect()
        let result = try await run(session, "tty")
        #expect(result.stdout == "not a tty\n")
        #expect(result.exit.code == 1)
        await session.close()
    }

    @Test(
        "environment variables reach the command where AcceptEnv lets them; refused ones are noted, never fatal",
        arguments: Engine.all)
    func environment(engine: Engine) async throws {
        let server = try await TestSSHServer.start(extraConfig: ["AcceptEnv PSSH_*"])
        defer { server.stop() }
        let session = try await engine.connect(to: server)
        let channel = try await session.exec(
            "echo \"$PSSH_ONE|$PSSH_TWO|${LANG-unset}\"",
            environment: ["PSSH_ONE": "first value", "PSSH_TWO": "ünïcödé", "LANG": "C.UTF-8"])
        #expect(String(decoding: try await channel.stdout.collect(), as: UTF8.self) == "first value|ünïcödé|unset\n")
        #expect(try await channel.exitStatus().code == 0)
        #expect(channel.refusedRequests.environment == ["LANG"], "\(channel.refusedRequests)")
        await session.close()
    }

    @Test(
        "a server without AcceptEnv (upstream's default): every variable refused, the command runs, as ssh runs it",
        arguments: Engine.all)
    func environmentRefused(engine: Engine) async throws {
        let session = try await engine.connect()
        let channel = try await session.exec(
            "echo \"ran ${LANG-unset} ${LC_TIME-unset}\"; tty",
            pty: SSHPTYRequest(), environment: ["LANG": "C.UTF-8", "LC_TIME": "C.UTF-8"])
        let output = String(decoding: try await channel.stdout.collect(), as: UTF8.self)
        #expect(output.hasPrefix("ran unset unset\r\n/dev/pts/"), "\(output)")
        #expect(channel.refusedRequests.environment == ["LANG", "LC_TIME"] && !channel.refusedRequests.pty)
        #expect(try await channel.exitStatus().code == 0)
        // The session goes on: another channel, with the same refusals.
        let again = try await run(session, "echo again", environment: ["LANG": "C.UTF-8"])
        #expect(again.stdout == "again\n" && again.exit.code == 0)
        await session.close()
    }

    @Test("an interactive shell runs several commands and reports its exit code", arguments: Engine.all)
    func shell(engine: Engine) async throws {
        let session = try await engine.connect()
        let channel = try await session.openChannel(.shell)
        async let output = channel.stdout.collect()
        try await channel.write(Array("echo one\necho two\nexit 3\n".utf8))
        let text = String(decoding: try await output, as: UTF8.self)
        #expect(text.contains("one\n"))
        #expect(text.contains("two\n"))
        #expect(try await channel.exitStatus().code == 3)
        await session.close()
    }

    @Test("binary (non-UTF-8) output arrives intact", arguments: Engine.all)
    func binaryOutput(engine: Engine) async throws {
        let session = try await engine.connect()
        let escapes = (0...255).map { "\\" + String($0, radix: 8) }.joined()
        let channel = try await session.exec("for i in 1 2 3 4; do printf '\(escapes)'; done")
        let bytes = try await channel.stdout.collect()
        #expect(bytes == Array((0..<4).map { _ in (0...255).map(UInt8.init) }.joined()))
        await session.close()
    }

    @Test("a command with stderr output only does not hang", arguments: Engine.all)
    func stderrOnly(engine: Engine) async throws {
        // Regression: a stdout read can pull the stderr packet into the library and return EAGAIN while the
        // socket stays quiet; the engine must still deliver stderr.
        let session = try await engine.connect()
        let channel = try await session.exec("echo only-stderr >&2; sleep 1")
        let stdout = try await channel.stdout.collect()
        let stderr = try await channel.stderr.collect()
        #expect(stdout.isEmpty)
        #expect(String(decoding: stderr, as: UTF8.self) == "only-stderr\n")
        #expect(try await channel.exitStatus().code == 0)
        await session.close()
    }

    @Test("sending a signal: works where supported, else a clear unsupported error", arguments: Engine.all)
    func sendSignal(engine: Engine) async throws {
        // As root the tests log in as a non-root account: sshd refuses signals in root's sessions.
        let session = try await engine.connect()
        let channel = try await session.exec("echo started; exec sleep 30")
        var iterator = channel.stdout.makeAsyncIterator()
        _ = try await iterator.next()
        if engine.backend.supports(.sendSignal) {
            try await channel.sendSignal("TERM")
            let status = try await channel.exitStatus()
            #expect(status.signal == "TERM", "\(status)")
        } else {
            let error = await expectSSHError(.unsupported) { try await channel.sendSignal("TERM") }
            #expect(error?.host == TestSSHServer.shared.host)
            await channel.close()
        }
        await session.close()
    }
}
