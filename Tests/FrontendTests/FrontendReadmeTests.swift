import Foundation
import Logging
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHEventLoop
import SSHTestSupport
import Testing

/// parallel-ssh's README examples, transcribed to Swift and run against real sshd on both engines, each several
/// times in a row so that a race shows.
@Suite("parallel-ssh's README in Swift, against real sshd", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct FrontendReadmeTests {
    /// What `uname` prints here: the servers are this machine, so it is the oracle for the remote output.
    private static let uname =
        (try? ProcessRunner.run(["/bin/uname"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"

    // output = client.run_command('uname')
    // for host_output in output:
    //     for line in host_output.stdout: print(line)
    //     exit_code = host_output.exit_code
    @Test("run uname on two hosts; exit codes right after iterating stdout, 20 rounds", arguments: FrontendEngine.all)
    func runAndReadExitCodes(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: [servers[0], servers[1]])
        for round in 0..<20 {
            let output = try await client.runCommand("uname")
            for hostOutput in output {
                var lines: [String] = []
                for try await line in hostOutput.stdout { lines.append(line) }
                #expect(lines == [Self.uname])
                #expect(hostOutput.exitCode == 0, "round \(round), \(hostOutput)")
            }
        }
        await client.disconnect()
    }

    // client = SSHClient('localhost'); host_out = client.run_command('uname'); ...; print(host_out.exit_code)
    @Test("single host: SSHClient runs uname, exit code after stdout, 10 rounds", arguments: FrontendEngine.all)
    func singleHost(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let client = try SSHClient(host: server.host, backend: engine.backend, config: Fleet.config(port: server.port))
        for round in 0..<10 {
            let hostOut = try await client.runCommand("uname; exit \(round)")
            var lines: [String] = []
            for try await line in hostOut.stdout { lines.append(line) }
            #expect(lines == [Self.uname])
            #expect(hostOut.exitCode == Int32(round))
        }
        await client.disconnect()
    }

    // output = client.run_command('uname'); client.join(); for host_output in output: print(host_output.exit_code)
    @Test("join, then exit codes, then the output still there, 10 rounds", arguments: FrontendEngine.all)
    func joinThenExitCodes(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let client = try Fleet.client(engine, servers: servers)
        for round in 0..<10 {
            let output = try await client.runCommand("uname; exit \(round % 3)")
            try await client.join()
            #expect(output.map(\.exitCode) == Array(repeating: Int32(round % 3), count: servers.count))
            #expect(client.isFinished())
            for hostOutput in output {
                var lines: [String] = []
                for try await line in hostOutput.stdout { lines.append(line) }
                #expect(lines == [Self.uname])
            }
        }
        await client.disconnect()
    }

    // enable_host_logger(); client.run_command('uname'); client.join(consume_output=True)
    @Test(
        "the host logger prints [host]\\tline for every line when join consumes the output",
        arguments: FrontendEngine.all)
    func hostLogger(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let printed = LogRecords()
        // `.hostOutput()` is this handler writing to standard output; here it writes to `printed` instead.
        let logger = Logger(label: "swift-parallel-ssh.host-output") { _ in HostOutputLogHandler { printed.append($0) }
        }
        let client = try Fleet.client(engine, servers: [servers[0], servers[1]], hostLogger: logger)
        for _ in 0..<5 {
            _ = try await client.runCommand("uname; echo warn >&2")
            try await client.join(consumeOutput: true)
        }
        let expected = [servers[0], servers[1]].flatMap {
            ["[\($0.host)]\t\(Self.uname)", "[\($0.host)]\t[err]\twarn"]
        }
        #expect(printed.all.count == 20)
        #expect(Set(printed.all) == Set(expected))
        await client.disconnect()
    }

    // client.copy_file('../test', 'test_dir/test'); client.copy_remote_file('remote', 'local_dir/file')
    @Test(
        "copies create missing directories: SFTP both ways, SCP both ways, files and trees",
        arguments: FrontendEngine.all)
    func copiesCreateDirectories(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let dir = try scratchDirectory("readme")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try ProcessRunner.run([
            "/bin/sh", "-c",
            "head -c 200000 /dev/urandom > \(dir)/test; mkdir \(dir)/tree; echo leaf > \(dir)/tree/leaf",
        ])
        let client = try Fleet.client(engine, servers: [servers[0], servers[1]])
        for round in 0..<3 {
            let base = "\(dir)/r\(round)"
            // Upload into a remote directory that does not exist (several levels), one per host.
            try await client.upload { _, index in ("\(dir)/test", "\(base)/test_dir-\(index)/deeper/test") }
            // Download into a local directory that does not exist: logs/test_<host>.
            let received = try await client.download("\(base)/test_dir-0/deeper/test", to: "\(base)/logs/test")
            try await client.upload(using: .scp()) { _, index in ("\(dir)/test", "\(base)/scp-\(index)/sub/test") }
            let scpReceived = try await client.download(
                "\(base)/scp-1/sub/test", to: "\(base)/scp-logs/test", using: .scp())
            try await client.upload(using: .scp(), recurse: true) { _, index in
                ("\(dir)/tree", "\(base)/scp-tree-\(index)/inner/tree")
            }
            let treeBack = try await client.download(
                "\(base)/scp-tree-0/inner/tree", to: "\(base)/trees/tree", using: .scp(), recurse: true)
            for copy in ["test_dir-0/deeper/test", "test_dir-1/deeper/test", "scp-0/sub/test", "scp-1/sub/test"] {
                #expect(try cmp("\(dir)/test", "\(base)/\(copy)"), "\(copy), round \(round)")
            }
            for transfer in received + scpReceived { #expect(try cmp("\(dir)/test", transfer.localPath)) }
            for transfer in treeBack { #expect(try cmp("\(dir)/tree/leaf", "\(transfer.localPath)/leaf")) }
        }
        await client.disconnect()
    }

    @Test(
        "join with 50 MB nobody reads: fails naming the host at the default limit, completes under a larger one",
        .serialized, arguments: FrontendEngine.all)
    func joinWithUnreadOutput(engine: FrontendEngine) async throws {
        try await Exclusive.run { try await joinWithUnreadOutputAlone(engine: engine) }
    }

    private func joinWithUnreadOutputAlone(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        // The writer tells its pid first (it is this machine's), so the test can see it stopped.
        let command = "sh -c 'echo $$ >&2; exec head -c 50000000 /dev/zero'; echo done >&2"
        let limited = try Fleet.client(engine, servers: [server])
        let output = try await limited.runCommand(command)
        let error = await #expect(throws: SSHError.self) { try await limited.join(timeout: .seconds(60)) }
        #expect(error?.code == .outputLimitExceeded && error?.host == server.host)
        #expect(error?.message.contains("stdout") == true)
        // The output is held, not read on: the writer blocks on a full pipe with much of its 50 MB unwritten (the
        // limit is 16 MiB per stream, plus the engine's buffer and window and the kernel's). Measured on the
        // writer, not on this process's memory, which the tests running beside this one move by tens of MB.
        let line = try #require(try await output[0].rawStderr.nextChunk())
        let pid = try #require(RemoteWriter.pid(from: line))
        let written = try await RemoteWriter.bytesWrittenWhenBlocked(pid: pid)
        #expect(written < 40_000_000, "the writer wrote \(written) bytes before it blocked")
        #expect(!output[0].isFinished)
        // Nothing was lost: reading lets the command finish, and every byte arrives.
        var total = 0
        for try await chunk in output[0].rawStdout { total += chunk.count }
        #expect(total == 50_000_000)
        try await limited.join(timeout: .seconds(30))
        #expect(output[0].exitCode == 0)
        await limited.disconnect()

        let roomy = try ParallelSSHClient(
            hosts: [server.host], backend: engine.backend,
            config: Fleet.config(port: server.port, unreadOutputLimit: 64 << 20))
        let kept = try await roomy.runCommand("head -c 50000000 /dev/zero; echo done >&2")
        try await roomy.join(timeout: .seconds(60))
        #expect(kept[0].exitCode == 0)
        var lines: [String] = []
        for try await line in kept[0].stderr { lines.append(line) }
        #expect(lines == ["done"])
        total = 0
        for try await chunk in kept[0].rawStdout { total += chunk.count }
        #expect(total == 50_000_000)
        await roomy.disconnect()
    }

    @Test(
        "reading only stdout while the command writes 5 MB to stderr ends, with the exit code; stderr kept",
        arguments: FrontendEngine.all)
    func stdoutOnlyReader(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let client = try Fleet.client(engine, servers: [server])
        for _ in 0..<3 {
            let output = try await client.runCommand("seq 1 700000 >&2; echo out; exit 4")
            var lines: [String] = []
            for try await line in output[0].stdout { lines.append(line) }
            #expect(lines == ["out"])
            #expect(output[0].exitCode == 4)
            #expect(try await output[0].stderr.drain() == 700_000)
        }
        await client.disconnect()
    }

    @Test(
        "attempts and their timing: a refused port and an unknown name fail at once, a silent host is retried (virtual time)",
        arguments: FrontendEngine.all)
    func retryTimings(engine: FrontendEngine) async throws {
        let refused = try FreePort.find(host: "127.0.0.2")
        let silent = try BlackholeListener(host: "127.0.0.1")
        let records = LogRecords()
        let clock = ManualClock()
        let client = try ParallelSSHClient(
            hosts: ["127.0.0.2", "no-such-host.invalid", silent.host], backend: engine.onClock(clock),
            config: HostConfig(
                user: TestUser.name, privateKey: .file(TestKeys.shared.ed25519), retryDelay: .seconds(1),
                timeout: .seconds(1), allowAgent: false, identityAuth: false,
                hostKeyPolicy: TestKeys.shared.hostKeyPolicy, sshConfig: .disabled),
            hostConfig: [HostConfig(port: refused), HostConfig(), HostConfig(port: silent.port)],
            logger: Logger(label: "client") { _ in CapturingLogHandler(records: records) })
        try await WaitClock.$current.withValue(.manual(clock)) {
            let run = Task { try await client.runCommand("true", stopOnErrors: false) }
            // Three attempts on the silent host (the default, as parallel-ssh's num_retries): each ends at its 1 s
            // deadline, and the next starts 1 s later; the refused port and the unknown name fail at once.
            for attempt in 1...3 {
                try await silent.acceptClientHello()
                #expect(await clock.advance(by: .milliseconds(999)) == [], "attempt \(attempt) ended early")
                #expect(await clock.advance(by: .milliseconds(1)) == ["operation deadline"], "attempt \(attempt)")
                guard attempt < 3 else { break }
                await clock.waitForSleepers(1)
                await clock.advance(by: .milliseconds(999))
                #expect(clock.sleeperCount == 1, "attempt \(attempt + 1) started before the retry delay")
                await clock.advance(by: .milliseconds(1))
            }
            let output = try await run.value
            #expect(output.map { $0.error?.code } == [.connectionRefused, .unknownHost, .timeout])
            #expect(records.all.filter { $0 == "connection attempt failed, retrying" }.count == 2)
            #expect(records.all.filter { $0 == "connection failed" }.count == 3)
            #expect(clock.now.offset == .seconds(5), "3 x 1 s + 2 x 1 s apart")
        }
    }

    @Test("the command is sent in the given encoding", arguments: FrontendEngine.all)
    func commandEncoding(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        let client = try Fleet.client(engine, servers: [server])
        let latin1 = try await client.runCommand("printf 'é' | od -An -tx1", options: .init(encoding: .isoLatin1))
        let utf8 = try await client.runCommand("printf 'é' | od -An -tx1")
        #expect(try await latin1[0].stdout.first { _ in true }?.trimmingCharacters(in: .whitespaces) == "e9")
        #expect(try await utf8[0].stdout.first { _ in true }?.trimmingCharacters(in: .whitespaces) == "c3 a9")
        await client.disconnect()
    }

    // ParallelSSHClient(hosts, pkey=key, cert_file=cert) on parallel-ssh's libssh client
    @Test(
        "a certificate given through PrivateKey logs in where the engine can, else says it cannot",
        arguments: FrontendEngine.all)
    func certificate(engine: FrontendEngine) async throws {
        let server = try await Fleet.servers[0]
        var config = Fleet.config(port: server.port)
        config.privateKey = .certificate(TestKeys.shared.certified, certificate: TestKeys.shared.certificate)
        let client = try ParallelSSHClient(hosts: [server.host], backend: engine.backend, config: config)
        let output = try await client.runCommand("echo certified", stopOnErrors: false)
        if engine.backend.supports(.userCertificates) {
            #expect(try await output[0].stdout.first { _ in true } == "certified")
        } else {
            let error = output[0].error
            #expect(error?.code == .authenticationFailed || error?.code == .unsupported, "\(output[0])")
            #expect("\(output[0])".contains("certificate"))
        }
        await client.disconnect()
    }

    @Test("the default user is the password database's name for our uid, as `id -un` says")
    func defaultUser() throws {
        let expected = try ProcessRunner.run(["/usr/bin/id", "-un"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(SSHConnectionOptions.currentUser == expected)
    }

    private func cmp(_ first: String, _ second: String) throws -> Bool {
        (try? ProcessRunner.run(["/usr/bin/cmp", first, second])) != nil
    }
}
