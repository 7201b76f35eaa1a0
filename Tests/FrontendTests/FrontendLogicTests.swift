import Glibc
import Logging
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHEventLoop
import SSHFakeBackend
import SSHTestSupport
import Synchronization
import Testing

/// The frontend's logic against the scripted in-memory engine (which also proves the frontend is engine-generic).
@Suite("Frontend logic (fake engine)")
struct FrontendLogicTests {
    private func client(
        _ hosts: [String], _ backend: FakeBackend, poolSize: Int = 100, retries: Int = 0,
        hostConfig: [HostConfig]? = nil, hostLogger: Logger? = nil,
        maxConcurrentHandshakes: Int = 64
    ) throws -> ParallelSSHClient {
        try ParallelSSHClient(
            hosts: hosts, backend: backend,
            config: HostConfig(connectionAttempts: retries + 1, retryDelay: .milliseconds(10), sshConfig: .disabled),
            hostConfig: hostConfig, poolSize: poolSize, maxConcurrentHandshakes: maxConcurrentHandshakes,
            hostLogger: hostLogger)
    }

    @Test("outputs follow the host list, duplicates included, each with its own connection")
    func orderAndDuplicates() async throws {
        let backend = FakeBackend { host in FakeHost { _ in .init(stdout: ["I am \(host)\n"]) } }
        let output = try await client(["a", "b", "b", "c"], backend).runCommand("whoami")
        #expect(output.map(\.host) == ["a", "b", "b", "c"])
        #expect(output.map(\.index) == [0, 1, 2, 3])
        #expect(backend.stats.connectAttempts["b"] == 2)
        for host in output {
            var lines: [String] = []
            for try await line in host.stdout { lines.append(line) }
            #expect(lines == ["I am \(host.host)"])
        }
    }

    @Test("lines split on \\n and \\r\\n across chunks; a last partial line is kept; stderr apart")
    func lineSplitting() async throws {
        let backend = FakeBackend { _ in
            FakeHost { _ in .init(stdout: ["one\ntw", "o\r\nthr", "ee"], stderr: ["warn\n"]) }
        }
        let host = try #require(try await client(["a"], backend).runCommand("x").first)
        var out: [String] = []
        for try await line in host.stdout { out.append(line) }
        var err: [String] = []
        for try await line in host.stderr { err.append(line) }
        #expect(out == ["one", "two", "three"])
        #expect(err == ["warn"])
    }

    @Test("exit codes: nil while running, set after join without reading output; finished() never blocks")
    func exitCodesAfterJoin() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { host in
                FakeHost { _ in
                    .init(
                        stdout: ["lots\n"], exit: SSHExitStatus(code: host == "a" ? 0 : 7),
                        duration: .seconds(2))
                }
            }
            let client = try client(["a", "b"], backend)
            let output = try await client.runCommand("x")
            #expect(output.allSatisfy { $0.exitCode == nil })
            #expect(!client.isFinished(output))
            await clock.advance(by: .seconds(2))
            try await client.join(output)
            #expect(client.isFinished(output))
            #expect(output.map(\.exitCode) == [0, 7])
        }
    }

    @Test("stopOnErrors: the first failing host's error is thrown; all outputs stay available")
    func stopOnErrorsTrue() async throws {
        let backend = FakeBackend { host in
            host.hasPrefix("bad") ? FakeHost(connectError: .connectionRefused) : FakeHost()
        }
        let client = try client(["good", "bad1", "bad2"], backend)
        do {
            _ = try await client.runCommand("x")
            Issue.record("expected an error")
        } catch let error as SSHError {
            #expect(error.code == .connectionRefused)
            #expect(error.host == "bad1")
        }
        let last = try #require(client.lastOutput)
        #expect(last.map { $0.error == nil } == [true, false, false])
    }

    @Test("stopOnErrors false: failed hosts carry their error, streams that throw it, no exit code; join skips them")
    func stopOnErrorsFalse() async throws {
        let backend = FakeBackend { host in host == "bad" ? FakeHost(connectError: .authenticationFailed) : FakeHost() }
        let client = try client(["good", "bad"], backend)
        let output = try await client.runCommand("x", stopOnErrors: false)
        #expect(output[0].error == nil)
        #expect(output[1].error?.code == .authenticationFailed)
        #expect(output[1].exitCode == nil)
        // A failed host's streams and stdin throw its error instead of being absent.
        let readError = await #expect(throws: SSHError.self) { for try await _ in output[1].stdout {} }
        #expect(readError?.code == .authenticationFailed && readError?.host == "bad")
        await #expect(throws: SSHError.self) { for try await _ in output[1].rawStderr {} }
        await #expect(throws: SSHError.self) { try await output[1].stdin.write("x") }
        try await client.join(output, timeout: .seconds(5))
        #expect(output[0].exitCode == 0)
    }

    @Test("per-host commands come from a closure of host and index (parallel-ssh's host_args)")
    func hostArguments() async throws {
        let fresh = FakeBackend { _ in FakeHost() }
        _ = try await self.client(["a", "b"], fresh).runCommand { host, index in "echo \(host) \(index)" }
        #expect(fresh.stats.commands.map(\.command).sorted() == ["echo a 0", "echo b 1"])
    }

    @Test("sudo, user and shell wrap the command, quotes escaped")
    func commandWrapping() async throws {
        let backend = FakeBackend { _ in FakeHost() }
        let client = try client(["a"], backend)
        _ = try await client.runCommand("echo 'hi'", options: .init(sudo: true))
        _ = try await client.runCommand("id", options: .init(user: "postgres"))
        _ = try await client.runCommand("echo $0", options: .init(shell: "bash -c"))
        _ = try await client.runCommand("plain")
        #expect(
            backend.stats.commands.map(\.command) == [
                "sudo -S $SHELL -c 'echo '\\''hi'\\'''", "sudo -u 'postgres' -S $SHELL -c 'id'", "bash -c 'echo $0'",
                "plain",
            ])
    }

    @Test(
        "a read timeout fires at exactly its deadline and is resumable: reading again continues, a partial line is not lost (virtual time)"
    )
    func resumableReadTimeout() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in FakeHost { _ in .init(stdout: ["first\npar"], duration: .seconds(5)) } }
            let host = try #require(
                try await client(["a"], backend).runCommand("x", options: .init(readTimeout: .milliseconds(150))).first)
            let lines = Mutex<[String]>([])
            let (read, reading) = AsyncStream.makeStream(of: String.self)
            let firstPass = Task {
                for try await line in host.stdout {
                    lines.withLock { $0.append(line) }
                    reading.yield(line)
                }
            }
            var iterator = read.makeAsyncIterator()
            #expect(await iterator.next() == "first")
            // The command's 5 s and the reader's 150 ms (for the rest) both wait on the clock.
            await clock.waitForSleepers(2)
            await clock.advance(by: .milliseconds(149))
            #expect(clock.sleeperCount == 2, "the read timed out before its deadline")
            await clock.advance(by: .milliseconds(1))
            await #expect(throws: SSHError.self) { try await firstPass.value }
            #expect(lines.withLock { $0 } == ["first"])
            await clock.advance(by: .seconds(5))
            try await host.waitFinished()
            // The rest: the partial line, the end.
            for try await line in host.stdout { lines.withLock { $0.append(line) } }
            #expect(lines.withLock { $0 } == ["first", "par"])
        }
    }

    @Test(
        "join timeout fires at exactly its deadline, lists finished and unfinished hosts and kills nothing (virtual time)"
    )
    func joinTimeout() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { host in FakeHost { _ in .init(duration: host == "slow" ? nil : .zero) } }
            let client = try client(["fast", "slow"], backend)
            let output = try await client.runCommand("x")
            let join = Task { try await client.join(output, timeout: .seconds(300)) }
            await clock.waitForSleepers(1)
            await clock.advance(by: .milliseconds(299_999))
            #expect(clock.sleeperCount == 1, "the join gave up before its deadline")
            await clock.advance(by: .milliseconds(1))
            do {
                try await join.value
                Issue.record("expected a join timeout")
            } catch let error as JoinTimeoutError {
                #expect(error.finished.map(\.host) == ["fast"])
                #expect(error.unfinished.map(\.host) == ["slow"])
            }
            #expect(backend.stats.closedChannels == 0)
            #expect(!output[1].isFinished)
            await output[1].close()
        }
    }

    @Test("a failed connection is tried again after exactly retryDelay, up to connectionAttempts (virtual time)")
    func retryDelay() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in FakeHost(connectError: .timeout, failingAttempts: 2) }
            let client = try ParallelSSHClient(
                hosts: ["a"], backend: backend,
                config: HostConfig(connectionAttempts: 3, retryDelay: .seconds(5), sshConfig: .disabled))
            let run = Task { try await client.runCommand("x") }
            for attempt in 1...2 {
                await clock.waitForSleepers(1)
                #expect(backend.stats.connectAttempts["a"] == attempt)
                await clock.advance(by: .milliseconds(4999))
                #expect(clock.sleeperCount == 1, "attempt \(attempt + 1) started before the delay")
                await clock.advance(by: .milliseconds(1))
            }
            let output = try await run.value
            #expect(output[0].error == nil)
            #expect(backend.stats.connectAttempts["a"] == 3)
        }
    }

    @Test("HostConfig overrides the client, false and 0 included")
    func hostConfigOverrides() async throws {
        let backend = FakeBackend { _ in FakeHost(connectError: .timeout, failingAttempts: 1) }
        let client = try client(
            ["a", "b"], backend, retries: 2,
            hostConfig: [
                HostConfig(),
                HostConfig(
                    user: "other", port: 2222, alias: "second",
                    connectionAttempts: 1, allowAgent: false),
            ])
        let output = try await client.runCommand("x", stopOnErrors: false)
        #expect(output[0].error == nil)
        #expect(backend.stats.connectAttempts["a"] == 2)
        #expect(output[1].error?.code == .timeout)
        #expect(backend.stats.connectAttempts["b"] == 1)
        #expect(output[1].alias == "second")
        let options = try #require(backend.stats.options["b"])
        #expect(options.user == "other" && options.port == 2222)
        #expect(!options.authMethods.contains { if case .agent = $0 { true } else { false } })
        #expect(backend.stats.options["a"]!.authMethods.contains { if case .agent = $0 { true } else { false } })
    }

    @Test("transport failures are retried; authentication failures are not")
    func retries() async throws {
        let flaky = FakeBackend { _ in FakeHost(connectError: .timeout, failingAttempts: 2) }
        let output = try await client(["a"], flaky, retries: 3).runCommand("x")
        #expect(output[0].error == nil)
        #expect(flaky.stats.connectAttempts["a"] == 3)
        let denied = FakeBackend { _ in FakeHost(connectError: .authenticationFailed) }
        _ = try await client(["a"], denied, retries: 3).runCommand("x", stopOnErrors: false)
        #expect(denied.stats.connectAttempts["a"] == 1)
    }

    @Test(
        "which failures are retried, as parallel-ssh 2.16: not refused, not a name that does not exist",
        arguments: [
            (SSHError.Code.timeout, nil, 3), (.hostUnreachable, nil, 3), (.handshakeFailed, nil, 3),
            (.connectionLost, nil, 3), (.unknownHost, EAI_AGAIN, 3), (.unknownHost, EAI_NONAME, 1),
            (.connectionRefused, nil, 1), (.authenticationFailed, nil, 1), (.invalidKey, nil, 1),
        ]
            as [(SSHError.Code, Int32?, Int)])
    func retriedFailures(code: SSHError.Code, nativeCode: Int32?, attempts: Int) async throws {
        let backend = FakeBackend { _ in FakeHost(connectError: code, connectNativeCode: nativeCode) }
        // connectionAttempts counts the first attempt, as parallel-ssh's num_retries (default 3).
        let client = try ParallelSSHClient(
            hosts: ["a"], backend: backend, config: HostConfig(retryDelay: .milliseconds(1), sshConfig: .disabled))
        let output = try await client.runCommand("x", stopOnErrors: false)
        #expect(output[0].error?.code == code)
        #expect(backend.stats.connectAttempts["a"] == attempts)
    }

    @Test("the client logger reports retries and the final failure, naming the host as output does (its alias)")
    func diagnosticsLogger() async throws {
        let records = LogRecords()
        let backend = FakeBackend { _ in FakeHost(connectError: .timeout) }
        let client = try ParallelSSHClient(
            hosts: ["a", "b"], backend: backend,
            config: HostConfig(connectionAttempts: 2, retryDelay: .milliseconds(1), sshConfig: .disabled),
            hostConfig: [HostConfig(alias: "alpha"), HostConfig()],
            logger: Logger(label: "client") { _ in CapturingLogHandler(records: records) })
        _ = try await client.runCommand("x", stopOnErrors: false)
        #expect(
            records.all.sorted() == ["connection attempt failed, retrying", "connection failed"].flatMap { [$0, $0] })
        #expect(records.hosts.sorted() == ["alpha", "alpha", "b", "b"])
        #expect(backend.stats.connectAttempts["a"] == 2)
    }

    @Test("host-key checking off is named, and warned about once per client; the default policy verifies")
    func insecureWarning() throws {
        let records = LogRecords()
        let logger = Logger(label: "client") { _ in CapturingLogHandler(records: records) }
        let backend = FakeBackend { _ in FakeHost() }
        _ = try ParallelSSHClient(
            hosts: ["a", "b"], backend: backend,
            config: HostConfig(hostKeyPolicy: .insecureAcceptAnything, sshConfig: .disabled),
            logger: logger)
        #expect(records.all == ["host-key checking is off: a server impersonating a host is not detected"])
        _ = try ParallelSSHClient(
            hosts: ["a"], backend: backend, config: HostConfig(sshConfig: .disabled), logger: logger)
        #expect(records.all.count == 1)
        if case .strict = SSHHostKeyPolicy().mode {} else { Issue.record("the default mode must verify") }
    }

    @Test("poolSize and maxConcurrentHandshakes bound the connections in flight")
    func concurrencyBounds() async throws {
        let hosts = (0..<12).map { "h\($0)" }
        for (poolSize, handshakes) in [(3, 64), (100, 2)] {
            let clock = ManualClock()
            try await WaitClock.$current.withValue(.manual(clock)) {
                let backend = FakeBackend { _ in FakeHost(connectDelay: .milliseconds(30)) }
                let bound = min(poolSize, handshakes)
                let run = Task {
                    try await client(hosts, backend, poolSize: poolSize, maxConcurrentHandshakes: handshakes)
                        .runCommand("x")
                }
                // The first round: exactly the bound's worth of connects in flight, all waiting.
                try await waitUntil("a full round of connects") { backend.stats.connectsInFlight == bound }
                await clock.waitForSleepers(bound)
                #expect(backend.stats.connectsInFlight == bound)
                // Then round after round until every host is connected.
                while backend.stats.openSessions < hosts.count {
                    try await waitUntil("the next round") {
                        clock.sleeperCount > 0 || backend.stats.openSessions == hosts.count
                    }
                    await clock.advance(by: .milliseconds(30))
                }
                _ = try await run.value
                #expect(backend.stats.maxConnectsInFlight == bound)
                #expect(backend.stats.connectAttempts.count == hosts.count)
            }
        }
    }

    @Test("the host logger logs [host]\\tline and [host]\\t[err]\\tline with join(consumeOutput: true)")
    func hostLogger() async throws {
        let records = LogRecords()
        let logger = Logger(label: "host") { _ in CapturingLogHandler(records: records) }
        let backend = FakeBackend { _ in FakeHost { _ in .init(stdout: ["out line\n"], stderr: ["err line\n"]) } }
        let client = try client(
            ["a", "b"], backend,
            hostConfig: [HostConfig(), HostConfig(alias: "bee")], hostLogger: logger)
        try await client.join(try await client.runCommand("x"), consumeOutput: true)
        #expect(
            records.all.sorted() == [
                "[a]\t[err]\terr line", "[a]\tout line", "[bee]\t[err]\terr line", "[bee]\tout line",
            ])
    }

    @Test("a mismatched hostConfig list is rejected")
    func hostConfigCount() {
        #expect(throws: SSHError.self) {
            try ParallelSSHClient(
                hosts: ["a", "b"], backend: FakeBackend { _ in FakeHost() }, config: HostConfig(sshConfig: .disabled),
                hostConfig: [HostConfig()])
        }
    }
}

/// Log lines captured by ``CapturingLogHandler``.
final class LogRecords: Sendable {
    private let lines = Mutex<[String]>([])
    private let hostNames = Mutex<[String]>([])
    func append(_ line: String, host: String? = nil) {
        lines.withLock { $0.append(line) }
        if let host { hostNames.withLock { $0.append(host) } }
    }
    var all: [String] { lines.withLock { $0 } }
    /// The `host` metadata of the messages that had one.
    var hosts: [String] { hostNames.withLock { $0 } }
}

/// A swift-log handler that keeps messages in memory.
struct CapturingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.append(event.message.description, host: event.metadata?["host"].map { "\($0)" })
    }
}

@Suite("Frontend cancellation (fake engine)")
struct FrontendCancellationTests {
    @Test("cancelling the task that joins closes the channels of commands still running", .timeLimit(.minutes(10)))
    func cancellingJoinClosesChannels() async throws {
        let backend = FakeBackend { host in FakeHost { _ in .init(duration: host == "slow" ? nil : .zero) } }
        let client = try ParallelSSHClient(
            hosts: ["fast", "slow"], backend: backend, config: HostConfig(sshConfig: .disabled))
        let output = try await client.runCommand("x")
        try await output[0].waitFinished()
        let joining = Task { try await client.join(output) }
        joining.cancel()
        await #expect(throws: CancellationError.self) { try await joining.value }
        try await output[1].waitFinished()  // returns once the channel was closed
        #expect(backend.stats.closedChannels == 1)
    }
}
