import BackendLibSSH
import BackendLibSSH2
import Foundation
import Logging
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHEventLoop
import SSHTestSupport
import Testing

/// An engine the frontend runs on in these tests; the test name shows which.
struct FrontendEngine: Sendable, CustomTestStringConvertible {
    let backend: any SSHBackend
    /// The same engine on other loops.
    private let onLoops: @Sendable (EventLoopGroup) -> any SSHBackend
    var testDescription: String { backend.name }
    static let all = [
        FrontendEngine(backend: LibSSH2Backend(), onLoops: { LibSSH2Backend(loops: $0) }),
        FrontendEngine(backend: LibSSHBackend(), onLoops: { LibSSHBackend(loops: $0) }),
    ]

    /// The engine on a loop whose time is `clock`'s (with ``WaitClock/manual(_:)`` for the frontend's own waits,
    /// all of a test's time is then virtual).
    func onClock(_ clock: ManualClock) -> any SSHBackend {
        onLoops(EventLoopGroup(threads: 1, clock: .manual(clock)))
    }
}

/// `userFile` as the user's ssh_config, then the machine's own `/etc/ssh/ssh_config` (with its `Include`s), as a
/// user's client reads them: on Debian and Ubuntu that file says `SendEnv LANG LC_*`, `HashKnownHosts yes` and
/// `GSSAPIAuthentication yes`, and the tests live with it.
func machineConfig(_ userFile: String) -> SSHConfigSource {
    SSHConfigSource(userFile: userFile, systemFile: "/etc/ssh/ssh_config")
}

/// Three real sshd servers on 127.0.0.1-3, shared by this suite.
enum Fleet {
    private static let started = Task { () throws -> [TestSSHServer] in
        var servers: [TestSSHServer] = []
        // `AcceptEnv PSSH_*` for the tests that send variables of their own; LANG and LC_* (Debian's SendEnv) are
        // refused, as by a server nobody configured.
        for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            servers.append(try await TestSSHServer.start(host: host, extraConfig: ["AcceptEnv PSSH_*"]))
        }
        return servers
    }

    static var servers: [TestSSHServer] {
        get async throws { try await started.value }
    }

    /// A client for `servers` plus `extra` (host, port) entries, authenticating with the test key only; the
    /// `extra` entries get `extraTimeout` if given (a dead host's short timeout, while live ones keep a load-proof one).
    static func client(
        _ engine: FrontendEngine, servers: [TestSSHServer], extra: [(String, Int)] = [],
        timeout: Duration = .seconds(30), extraTimeout: Duration? = nil,
        privateKey: String = TestKeys.shared.ed25519,
        hostLogger: Logger? = nil
    ) throws -> ParallelSSHClient {
        let entries = servers.map { ($0.host, $0.port) } + extra
        let perHost =
            servers.map { HostConfig(port: $0.port) } + extra.map { HostConfig(port: $0.1, timeout: extraTimeout) }
        return try ParallelSSHClient(
            hosts: entries.map(\.0), backend: engine.backend,
            config: config(timeout: timeout, privateKey: privateKey),
            hostConfig: perHost, hostLogger: hostLogger)
    }

    /// The settings of the test account: its key only (no agent, no default identities), one attempt.
    static func config(
        port: Int? = nil, timeout: Duration = .seconds(30), privateKey: String = TestKeys.shared.ed25519,
        unreadOutputLimit: Int? = nil
    ) -> HostConfig {
        HostConfig(
            user: TestUser.name, port: port, privateKey: .file(privateKey), connectionAttempts: 1, timeout: timeout,
            allowAgent: false, identityAuth: false, unreadOutputLimit: unreadOutputLimit,
            hostKeyPolicy: TestKeys.shared.hostKeyPolicy, sshConfig: machineConfig(TestKeys.shared.sshConfig))
    }
}

@Suite("Frontend against real sshd", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct FrontendServerTests {
    @Test(
        "exit codes are there as soon as stdout was read to its end, without join, every time",
        arguments: FrontendEngine.all)
    func exitCodeAfterStdout(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: [servers[0], servers[1]])
        for round in 0..<10 {
            let output = try await client.runCommand("echo round \(round); exit \(round + 1)")
            for host in output {
                var lines: [String] = []
                for try await line in host.stdout { lines.append(line) }
                #expect(lines == ["round \(round)"])
                #expect(host.exitCode == Int32(round + 1), "round \(round) on \(host.host): \(host)")
                #expect(host.isFinished)
            }
        }
        await client.disconnect()
    }

    @Test(
        "a command on every host, one listed twice: output in host order, exit codes after join",
        arguments: FrontendEngine.all)
    func everyHost(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let listed = servers + [servers[1]]
        let client = try Fleet.client(engine, servers: listed)
        let output = try await client.runCommand("set -- $SSH_CONNECTION; echo \"at $3 $4\"; echo oops >&2; exit 3")
        #expect(output.map(\.host) == listed.map(\.host))
        try await client.join(output, timeout: .seconds(30))
        for (host, server) in zip(output, listed) {
            #expect(host.exitCode == 3)
            var lines: [String] = []
            for try await line in host.stdout { lines.append(line) }
            #expect(lines == ["at \(server.host) \(server.port)"])
            var errors: [String] = []
            for try await line in host.stderr { errors.append(line) }
            #expect(errors == ["oops"])
        }
        await client.disconnect()
    }

    @Test(
        "dead hosts (refused, unknown, silent) fail alone, with typed errors naming them", arguments: FrontendEngine.all
    )
    func failureIsolation(engine: FrontendEngine) async throws {
        try await Exclusive.run { try await failureIsolationAlone(engine: engine) }
    }

    private func failureIsolationAlone(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let silent = try BlackholeListener(host: "127.0.0.1")
        let refused = try FreePort.find(host: "127.0.0.2")
        let client = try Fleet.client(
            engine, servers: servers,
            extra: [("127.0.0.2", refused), ("no-such-host.invalid", 22), (silent.host, silent.port)],
            extraTimeout: .seconds(2))
        let started = ContinuousClock.now
        let output = try await client.runCommand("echo fine", stopOnErrors: false)
        let elapsed = ContinuousClock.now - started
        try await client.join(output, timeout: .seconds(20))
        for host in output.prefix(3) {
            #expect(host.error == nil)
            #expect(host.exitCode == 0)
        }
        let errors = output.suffix(3).map { $0.error }
        #expect(errors.map { $0?.code } == [.connectionRefused, .unknownHost, .timeout])
        #expect(errors.map { $0?.host } == ["127.0.0.2", "no-such-host.invalid", "127.0.0.1"])
        // The silent host costs its own 2 s timeout, while the others run: not the live hosts' 30 s, not its
        // timeout once per other host. (30 s: a bound no load breaks, and the one that tells the two apart.)
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(30), "runCommand took \(elapsed)")
    }

    @Test("a wrong key fails as authenticationFailed for that host only", arguments: FrontendEngine.all)
    func wrongKey(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(
            engine, servers: Array(servers.prefix(1)), privateKey: TestKeys.shared.unauthorized)
        let errors = try await client.connect(stopOnErrors: false)
        #expect(errors[0]?.code == .authenticationFailed)
        await #expect(throws: SSHError.self) { try await client.runCommand("true") }
    }

    @Test("stdin, environment variables and a PTY", arguments: FrontendEngine.all)
    func stdinEnvironmentPTY(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: Array(servers.prefix(2)))
        let cat = try await client.runCommand("cat")
        for host in cat {
            try await host.stdin.write("hello \(host.index)\n")
            try await host.stdin.close()
        }
        try await client.join(cat, timeout: .seconds(20))
        for host in cat {
            var lines: [String] = []
            for try await line in host.stdout { lines.append(line) }
            #expect(lines == ["hello \(host.index)"])
        }
        let env = try await client.runCommand(
            "echo \"$PSSH_GREETING\"", options: .init(environment: ["PSSH_GREETING": "hi there"]))
        for host in env { #expect(try await host.stdout.first { _ in true } == "hi there") }
        let tty = try await client.runCommand("tty", options: .init(pty: true))
        for host in tty { #expect(try await host.stdout.first { _ in true }?.hasPrefix("/dev/pts/") == true) }
        try await client.join(timeout: .seconds(20))
    }

    @Test("output decoded with the requested text encoding; raw bytes untouched", arguments: FrontendEngine.all)
    func encodingAndRawBytes(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: Array(servers.prefix(1)))
        let latin = try await client.runCommand("printf 'caf\\351\\n'", options: .init(encoding: .isoLatin1))
        #expect(try await latin[0].stdout.first { _ in true } == "café")
        let binary = try await client.runCommand("printf '\\000\\377\\001'")
        #expect(try await binary[0].rawStdout.collect() == [0, 255, 1])
    }

    @Test("shell wrapping survives quotes in the command", arguments: FrontendEngine.all)
    func shellWrapping(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: Array(servers.prefix(1)))
        let output = try await client.runCommand("echo 'it'\"'\"'s quoted'", options: .init(shell: "sh -c"))
        #expect(try await output[0].stdout.first { _ in true } == "it's quoted")
    }

    @Test("interactive shells: several commands each, exit codes after joining", arguments: FrontendEngine.all)
    func shells(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: servers)
        let shells = try await client.openShell()
        try await client.runShellCommands(shells, ["echo first", "echo second >&2", "sh -c 'exit 4'", "echo $?"])
        try await client.join(shells, timeout: .seconds(20))
        for shell in shells {
            var lines: [String] = []
            for try await line in shell.output.stdout { lines.append(line) }
            #expect(lines == ["first", "4"])
            var errors: [String] = []
            for try await line in shell.output.stderr { errors.append(line) }
            #expect(errors == ["second"])
            #expect(shell.output.exitCode == 0)
        }
    }

    @Test("the host logger logs what join(consumeOutput: true) reads", arguments: FrontendEngine.all)
    func hostLogger(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let records = LogRecords()
        let entries = servers.prefix(2)
        let client = try Fleet.client(
            engine, servers: Array(entries),
            hostLogger: Logger(label: "hosts") { _ in CapturingLogHandler(records: records) })
        try await client.join(
            try await client.runCommand("echo out; echo err >&2"), timeout: .seconds(20), consumeOutput: true)
        #expect(
            records.all.sorted() == [
                "[127.0.0.1]\t[err]\terr", "[127.0.0.1]\tout", "[127.0.0.2]\t[err]\terr", "[127.0.0.2]\tout",
            ])
    }

    @Test("cancelling a join closes the running commands", arguments: FrontendEngine.all)
    func cancellation(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: Array(servers.prefix(2)))
        let output = try await client.runCommand("sleep 300")
        for server in servers.prefix(2) { _ = try await server.waitForSessionProcesses(running: "sleep 300") }
        let joining = Task { try await client.join(output) }
        joining.cancel()
        await #expect(throws: CancellationError.self) { try await joining.value }
        for host in output { try await host.waitFinished() }
        #expect(output.allSatisfy { $0.exitCode == nil })
    }
}
