import Foundation
import SSHBackend
import SSHConfig
import SSHEventLoop
import SSHFakeBackend
import SSHTestSupport
import Synchronization
import Testing

@testable import ParallelFrontend

/// Counterparts of parallel-ssh tests that the other frontend suites do not already cover.
@Suite("Frontend parity details (fake engine)", .timeLimit(.minutes(10)))
struct FrontendParityTests {
    @Test("before any command: join returns, finished is true, lastOutput is nil")
    func beforeAnyCommand() async throws {
        let client = try ParallelSSHClient(
            hosts: ["a"], backend: FakeBackend { _ in FakeHost() }, config: HostConfig(sshConfig: .disabled))
        #expect(client.lastOutput == nil)
        #expect(client.isFinished())
        try await client.join(timeout: .seconds(1))
    }

    @Test("HostOutput describes itself, and records the command actually sent")
    func descriptionAndCommand() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { host in
                host == "bad"
                    ? FakeHost(connectError: .connectionRefused) : FakeHost { _ in .init(duration: .seconds(2)) }
            }
            let client = try ParallelSSHClient(
                hosts: ["a", "bad"], backend: backend, config: HostConfig(connectionAttempts: 1, sshConfig: .disabled))
            let output = try await client.runCommand(options: .init(sudo: true), stopOnErrors: false) { _, index in
                ["echo x y", "echo z"][index]
            }
            #expect(output[0].command == "sudo -S $SHELL -c 'echo x y'")
            #expect(output[0].description.contains("running"))
            #expect(output[1].description.contains("connectionRefused"))
            await clock.advance(by: .seconds(2))
            try await client.join(output)
            #expect(output[0].description.contains("exit 0"), "\(output[0])")
        }
    }

    /// Settings a caller can get wrong, with the code and a word of the message each must produce.
    static let badSettings: [(HostConfig, SSHError.Code, String)] = [
        (HostConfig(keyboardInteractive: true), .invalidArgument, "password"),
        (HostConfig(timeout: .seconds(-1)), .invalidArgument, "timeout"),
        (HostConfig(connectionAttempts: 0), .invalidArgument, "connectionAttempts"),
        (HostConfig(keepalive: .milliseconds(500)), .invalidArgument, "keepalive"),
        (HostConfig(port: 70000), .invalidArgument, "70000"),
        (HostConfig(unreadOutputLimit: 0), .invalidArgument, "unreadOutputLimit"),
        (HostConfig(privateKey: .file("/nonexistent/id_ed25519")), .invalidKey, "/nonexistent/id_ed25519"),
        (
            HostConfig(privateKey: .certificate("/dev/null", certificate: "/nonexistent/cert.pub")), .invalidKey,
            "/nonexistent/cert.pub"
        ),
    ]

    @Test(
        "invalid settings fail at init, the same way for both clients, as client config or per host",
        arguments: badSettings.indices)
    func invalidSettings(index: Int) {
        let (config, code, word) = Self.badSettings[index]
        let backend = FakeBackend { _ in FakeHost() }
        let errors = [
            #expect(throws: SSHError.self) { try ParallelSSHClient(hosts: ["a"], backend: backend, config: config) },
            #expect(throws: SSHError.self) {
                try ParallelSSHClient(
                    hosts: ["a"], backend: backend, config: HostConfig(sshConfig: .disabled), hostConfig: [config])
            },
            #expect(throws: SSHError.self) { try SSHClient(host: "a", backend: backend, config: config) },
        ]
        for error in errors {
            #expect(error?.code == code)
            #expect(error?.host == "a")
            #expect(error?.message.contains(word) == true, "\(error.map { "\($0)" } ?? "no error")")
        }
        #expect(backend.stats.connectAttempts.isEmpty)
    }

    @Test("valid edge settings: keyboard-interactive with a password, .zero timeout and keepalive meaning none")
    func validSettings() async throws {
        let backend = FakeBackend { _ in FakeHost() }
        let client = try ParallelSSHClient(
            hosts: ["a"], backend: backend,
            config: HostConfig(
                password: "pw", timeout: .zero, keepalive: .zero,
                keyboardInteractive: true, sshConfig: .disabled))
        try await client.connect()
        let options = try #require(backend.stats.options["a"])
        #expect(options.connectTimeout == nil && options.operationTimeout == nil && options.keepaliveInterval == nil)
        // The defaults, as parallel-ssh's: 60 s keepalive; ours: a 60 s timeout rather than none.
        let defaults = try ParallelSSHClient(hosts: ["b"], backend: backend, config: HostConfig(sshConfig: .disabled))
        try await defaults.connect()
        let given = try #require(backend.stats.options["b"])
        #expect(given.keepaliveInterval == .seconds(60) && given.connectTimeout == .seconds(60))
        #expect(given.user == SSHConnectionOptions.currentUser && !given.user.isEmpty)
    }

    @Test("keyboardInteractive with a password asks for keyboard-interactive, never plain password")
    func keyboardInteractiveMethod() async throws {
        let backend = FakeBackend { _ in FakeHost() }
        let client = try ParallelSSHClient(
            hosts: ["a"], backend: backend,
            config: HostConfig(password: "pw", keyboardInteractive: true, sshConfig: .disabled))
        try await client.connect()
        let methods = try #require(backend.stats.options["a"]).authMethods
        #expect(methods.contains { if case .keyboardInteractive = $0 { true } else { false } })
        #expect(!methods.contains { if case .password = $0 { true } else { false } })
    }

    @Test("Kerberos is off by default, tried first when on (as ssh tries it), with ssh_config's GSSAPI keywords")
    func gssapiMethod() async throws {
        func kerberos(_ method: SSHAuthMethod?) -> SSHGSSAPIOptions? {
            if case .gssapi(let options) = method { options } else { nil }
        }
        func methods(_ config: HostConfig) async throws -> [SSHAuthMethod] {
            let backend = FakeBackend { _ in FakeHost() }
            let client = try ParallelSSHClient(hosts: ["a"], backend: backend, config: config)
            try await client.connect()
            return try #require(backend.stats.options["a"]).authMethods
        }
        #expect(try await methods(HostConfig(sshConfig: .disabled)).allSatisfy { kerberos($0) == nil })
        let given = SSHGSSAPIOptions(delegateCredentials: true, clientIdentity: "alice@EXAMPLE.ORG")
        let on = try await methods(HostConfig(gssapiAuth: true, gssapi: given, sshConfig: .disabled))
        #expect(kerberos(on.first) == given && on.count > 1)

        var source = SSHConfigSource.disabled
        source.options = ["GSSAPIAuthentication=yes", "GSSAPIDelegateCredentials=yes", "GSSAPIServerIdentity=gw"]
        let fromFile = try await methods(HostConfig(sshConfig: source))
        #expect(kerberos(fromFile.first) == SSHGSSAPIOptions(delegateCredentials: true, serverIdentity: "gw"))
        source.options.append("PreferredAuthentications=publickey,gssapi-with-mic")
        let preferred = try await methods(HostConfig(sshConfig: source))
        #expect(kerberos(preferred.first) == nil && kerberos(preferred.last) != nil)
        // The caller's setting wins over the file's, as ssh's command line does.
        let overridden = try await methods(HostConfig(gssapiAuth: false, sshConfig: source))
        #expect(overridden.allSatisfy { kerberos($0) == nil })
    }

    @Test("connect connects every host once; later commands reuse the connections")
    func connectReuse() async throws {
        let backend = FakeBackend { _ in FakeHost() }
        let client = try ParallelSSHClient(
            hosts: ["a", "b"], backend: backend, config: HostConfig(sshConfig: .disabled))
        #expect(try await client.connect().allSatisfy { $0 == nil })
        _ = try await client.runCommand("one")
        _ = try await client.runCommand("two")
        #expect(backend.stats.connectAttempts == ["a": 1, "b": 1])
    }

    @Test("concurrent commands on one host share one connection")
    func concurrentCommandsShareConnection() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in FakeHost(connectDelay: .milliseconds(100)) }
            let client = try SSHClient(host: "a", backend: backend, config: HostConfig(sshConfig: .disabled))
            let first = Task { try await client.runCommand("one") }
            let second = Task { try await client.runCommand("two") }
            try await waitUntil("both callers wait for the connection") {
                await client.pendingConnectWaiters == 2 && backend.stats.connectAttempts["a"] == 1
            }
            await clock.advance(by: .milliseconds(100))
            _ = try await (first.value, second.value)
            #expect(backend.stats.connectAttempts["a"] == 1)
            #expect(backend.stats.commands.count == 2)
        }
    }

    @Test("a caller cancelled while the connection is made does not cancel it for the other callers")
    func cancelledWaiterLeavesAttempt() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in FakeHost(connectDelay: .seconds(2)) }
            let client = try SSHClient(host: "a", backend: backend, config: HostConfig(sshConfig: .disabled))
            let impatient = Task { try await client.runCommand("one") }
            let patient = Task { try await client.runCommand("two") }
            try await waitUntil("both callers wait for the connection") {
                await client.pendingConnectWaiters == 2 && backend.stats.connectAttempts["a"] == 1
            }
            impatient.cancel()
            await #expect(throws: CancellationError.self) { try await impatient.value }
            await clock.advance(by: .seconds(2))
            let output = try await patient.value
            #expect(output.command == "two")
            #expect(backend.stats.connectAttempts["a"] == 1)
        }
    }

    @Test("a caller arriving after every earlier caller gave up starts afresh instead of inheriting the cancellation")
    func callerAfterAbandonedAttempt() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in FakeHost(connectDelay: .seconds(1)) }
            let client = try SSHClient(host: "a", backend: backend, config: HostConfig(sshConfig: .disabled))
            let first = Task { try await client.runCommand("one") }
            try await waitUntil("the first attempt started") { backend.stats.connectAttempts["a"] == 1 }
            first.cancel()
            // Right away, before the abandoned attempt has wound down.
            let second = Task { try await client.runCommand("two") }
            try await waitUntil("a second attempt started") { backend.stats.connectAttempts["a"] == 2 }
            await clock.advance(by: .seconds(1))
            let output = try await second.value
            #expect(output.command == "two")
            #expect(backend.stats.connectAttempts["a"] == 2)
        }
    }

    @Test("cancelling the only caller cancels the attempt; the next call connects afresh")
    func cancelledOnlyWaiter() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in FakeHost(connectDelay: .milliseconds(200)) }
            let client = try SSHClient(host: "a", backend: backend, config: HostConfig(sshConfig: .disabled))
            let first = Task { try await client.runCommand("one") }
            try await waitUntil("the first attempt started") { backend.stats.connectsInFlight == 1 }
            first.cancel()
            await #expect(throws: (any Error).self) { try await first.value }
            // The attempt ended with its only caller: nothing is left in flight.
            try await waitUntil("the first attempt ended") { backend.stats.connectsInFlight == 0 }
            let second = Task { try await client.runCommand("two") }
            try await waitUntil("a second attempt started") { backend.stats.connectAttempts["a"] == 2 }
            await clock.advance(by: .milliseconds(200))
            let output = try await second.value
            try await output.waitFinished()
            #expect(output.exitCode == 0)
            #expect(backend.stats.connectAttempts["a"] == 2)
        }
    }

    @Test("retries exhausted: every attempt made, the last error thrown, saying how many attempts were made")
    func retriesExhausted() async throws {
        let backend = FakeBackend { _ in FakeHost(connectError: .hostUnreachable) }
        let client = try ParallelSSHClient(
            hosts: ["a"], backend: backend,
            config: HostConfig(connectionAttempts: 3, retryDelay: .milliseconds(5), sshConfig: .disabled))
        let error = await #expect(throws: SSHError.self) { try await client.runCommand("x") }
        #expect(error?.code == .hostUnreachable)
        #expect(backend.stats.connectAttempts["a"] == 3)
        // The message accounts for the whole wait, not only the last attempt's.
        #expect(error?.message.contains("the last of 3 attempts") == true, "\(error.map { "\($0)" } ?? "")")
    }

    @Test("duplicate hosts that fail each get their own output with the error")
    func duplicateFailures() async throws {
        let backend = FakeBackend { _ in FakeHost(connectError: .timeout) }
        let output = try await ParallelSSHClient(
            hosts: ["a", "a"], backend: backend, config: HostConfig(connectionAttempts: 1, sshConfig: .disabled)
        )
        .runCommand("x", stopOnErrors: false)
        #expect(output.count == 2)
        #expect(output.allSatisfy { $0.error?.code == .timeout })
    }

    @Test(
        "read timeouts are per stream: stdout times out at its deadline while stderr still yields its line (virtual time)"
    )
    func readTimeoutPerStream() async throws {
        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in
                FakeHost { _ in .init(stderr: ["only on stderr\n"], duration: .seconds(10)) }
            }
            let host = try #require(
                try await ParallelSSHClient(hosts: ["a"], backend: backend, config: HostConfig(sshConfig: .disabled))
                    .runCommand("x", options: .init(readTimeout: .milliseconds(200))).first)
            let stdout = Task { for try await _ in host.stdout {} }
            // The command's 10 s and the stdout reader's 200 ms.
            await clock.waitForSleepers(2)
            await clock.advance(by: .milliseconds(199))
            #expect(clock.sleeperCount == 2, "stdout timed out early")
            await clock.advance(by: .milliseconds(1))
            await #expect(throws: SSHError.self) { try await stdout.value }
            var iterator = host.stderr.makeAsyncIterator()
            #expect(try await iterator.next() == "only on stderr")
            await host.close()
        }
    }

    @Test("shells: a connection error is thrown; a read timeout is resumable; join times out, then succeeds")
    func shellEdges() async throws {
        let failing = try ParallelSSHClient(
            hosts: ["a"], backend: FakeBackend { _ in FakeHost(connectError: .timeout) },
            config: HostConfig(connectionAttempts: 1, sshConfig: .disabled))
        await #expect(throws: SSHError.self) { try await failing.openShell() }

        let clock = ManualClock()
        try await WaitClock.$current.withValue(.manual(clock)) {
            let backend = FakeBackend { _ in
                FakeHost { _ in .init(stdout: ["one\n", "two\n"], duration: .seconds(15)) }
            }
            let client = try ParallelSSHClient(hosts: ["a"], backend: backend, config: HostConfig(sshConfig: .disabled))
            let shells = try await client.openShell(readTimeout: .milliseconds(100))
            let lines = Mutex<[String]>([])
            let reader = Task {
                for try await line in shells[0].output.stdout { lines.withLock { $0.append(line) } }
            }
            try await waitUntil("both lines read") { lines.withLock { $0.count } == 2 }
            await clock.waitForSleepers(2)  // the shell's 15 s, the reader's 100 ms
            await clock.advance(by: .milliseconds(100))
            let error = await #expect(throws: SSHError.self) { try await reader.value }
            #expect(error?.code == .timeout)
            #expect(lines.withLock { $0 } == ["one", "two"])
            for _ in 0..<2 {
                let join = Task { try await client.join(shells, timeout: .milliseconds(50)) }
                await clock.waitForSleepers(2)
                await clock.advance(by: .milliseconds(50))
                await #expect(throws: JoinTimeoutError.self) { try await join.value }
            }
            let join = Task { try await client.join(shells, timeout: .seconds(30)) }
            await clock.waitForSleepers(2)
            await clock.advance(by: .seconds(15))
            try await join.value
            #expect(shells[0].output.exitCode == 0)
        }
    }
}

@Suite("Frontend parity details against real sshd", .timeLimit(.minutes(10)))
struct FrontendServerParityTests {
    @Test("backticks and command substitution reach the remote shell", arguments: FrontendEngine.all)
    func backticks(engine: FrontendEngine) async throws {
        let client = try Fleet.client(engine, servers: Array(try await Fleet.servers.prefix(1)))
        let output = try await client.runCommand("out=`echo sub` && echo \"$out $(echo again)\"")
        #expect(try await output[0].stdout.first { _ in true } == "sub again")
    }

    @Test("1000 lines within the read timeout: all arrive, no timeout", arguments: FrontendEngine.all)
    func manyLinesNoTimeout(engine: FrontendEngine) async throws {
        let client = try Fleet.client(engine, servers: Array(try await Fleet.servers.prefix(1)))
        let output = try await client.runCommand("seq 1 1000", options: .init(readTimeout: .seconds(10)))
        var count = 0
        for try await line in output[0].stdout {
            count += 1
            if count == 1000 { #expect(line == "1000") }
        }
        #expect(count == 1000)
    }

    @Test("a shell decodes with the requested encoding", arguments: FrontendEngine.all)
    func shellEncoding(engine: FrontendEngine) async throws {
        let client = try Fleet.client(engine, servers: Array(try await Fleet.servers.prefix(1)))
        let shells = try await client.openShell(encoding: .isoLatin1)
        try await client.runShellCommands(shells, ["printf 'caf\\351\\n'", "exit 2"])
        try await client.join(shells, timeout: .seconds(20))
        #expect(try await shells[0].output.stdout.first { _ in true } == "café")
        #expect(shells[0].output.exitCode == 2)
    }

    @Test("output stays readable after the client is gone", arguments: FrontendEngine.all)
    func outputOutlivesClient(engine: FrontendEngine) async throws {
        func run() async throws -> HostOutput {
            let client = try Fleet.client(engine, servers: Array(try await Fleet.servers.prefix(1)))
            return try await client.runCommand("echo me; exit 1")[0]
        }
        let output = try await run()
        try await output.waitFinished()
        #expect(try await output.stdout.first { _ in true } == "me")
        #expect(output.exitCode == 1)
    }

    @Test(
        "IPv6-only against an IPv4 address fails as unknownHost naming host and family", arguments: FrontendEngine.all)
    func ipv6Only(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        var config = Fleet.config()
        config.ipv6Only = true
        let client = try ParallelSSHClient(
            hosts: ["127.0.0.1"], backend: engine.backend, config: config,
            hostConfig: [HostConfig(port: servers[0].port)])
        let output = try await client.runCommand("true", stopOnErrors: false)
        let error = output[0].error
        #expect(error?.code == .unknownHost)
        #expect(error?.host == "127.0.0.1")
        #expect(error?.description.contains("IPv6") == true)
    }

    @Test("no key, no agent, no default identity, no password: a clear invalidArgument", arguments: FrontendEngine.all)
    func nothingToAuthenticateWith(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        var config = Fleet.config()
        config.privateKey = nil
        config.gssapiAuth = false  // Debian's /etc/ssh/ssh_config turns Kerberos on: a method, as with ssh
        let client = try ParallelSSHClient(
            hosts: ["127.0.0.1"], backend: engine.backend, config: config,
            hostConfig: [HostConfig(port: servers[0].port)])
        let error = await #expect(throws: SSHError.self) { try await client.runCommand("true") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.description.contains("authentication") == true, "\(String(describing: error))")
    }
}
