import FleetCLI
import Foundation
import SSHTestSupport
import Testing

/// The built `fleetsh` against real sshd servers, as an operator types it.
@Suite("fleetsh against real sshd", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct FleetshEndToEndTests {
    @Test(
        "streams each line prefixed with its host; exit 0 when every command succeeds",
        arguments: ["libssh2", "libssh"])
    func streams(engine: String) async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let result = try await Fleetsh.run([
                "-F", site.config, "--engine", engine, "-H", "web[1-3]", "--",
                "echo", "out;", "echo", "err", ">&2",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.lines.sorted() == ["web1: out", "web2: out", "web3: out"])
            #expect(result.stderr.split(separator: "\n").sorted() == ["web1: err", "web2: err", "web3: err"])
        }
    }

    @Test(
        "the exit code tells a failed command (1), an unreachable host (2) and a host-key failure (3) apart",
        arguments: ["libssh2", "libssh"])
    func exitCodes(engine: String) async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let command = ["--engine", engine, "--", "set -- $SSH_CONNECTION; [ $3 = 127.0.0.2 ] && exit 3; echo ok"]
            let failing = try await Fleetsh.run(["-F", site.config, "-H", "web[1-3]"] + command)
            #expect(failing.status == 1)
            #expect(failing.stderr.contains("web2: exited with status 3"), "\(failing.stderr)")
            let refused = try FreePort.find(host: "127.0.0.4")
            let unreachable = try await Fleetsh.run(
                ["-F", site.config, "-H", "web[1-3],127.0.0.4:\(refused)"] + command)
            #expect(unreachable.status == 2)
            #expect(
                unreachable.stderr.contains(
                    "127.0.0.4:\(refused): TCP connect to 127.0.0.4:\(refused) failed: Connection refused"),
                "\(unreachable.stderr)")
            // A server whose key is not the one known for it.
            let impostor = try await TestSSHServer.start(
                host: "127.0.0.5", hostKeys: [TestKeys.shared.otherHostKeys.ed25519])
            defer { impostor.stop() }
            let changed = try await Fleetsh.run(
                ["-F", site.config, "-H", "web1,127.0.0.4:\(refused),127.0.0.5:\(impostor.port)"] + command)
            #expect(changed.status == 3, "\(changed.stderr)")
            #expect(changed.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(changed.stderr)")
            #expect(!impostor.log.contains("Accepted"), "no credential went to the impostor")
        }
    }

    @Test("usage errors exit 64 with the cause: a bad node set, a bad shard, a bad -o line, no command")
    func usageErrors() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            for (arguments, words) in [
                (["-H", "web[1-", "--", "true"], "unclosed '['"),
                (["-H", "web1", "--shard", "3/2", "--", "true"], "1 <= k <= n"),
                (
                    ["-F", site.config, "-H", "web1", "-o", "Frobnicate=yes", "--", "true"],
                    "-o 'Frobnicate=yes': Bad configuration option: frobnicate"
                ),
                (["-H", "web1"], "no command given"),
                (["-H", "web1", "--engine", "putty", "--", "true"], "--engine must be"),
            ] {
                let result = try await Fleetsh.run(arguments)
                #expect(result.status == 64, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains(words), "\(arguments): \(result.stderr)")
            }
        }
    }

    @Test(
        "--group folds hosts with identical output into node sets; --outdir/--errdir write a file per host; --blocks gives pssh -i's blocks"
    )
    func groupedAndBlocks() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let grouped = try await Fleetsh.run([
                "-F", site.config, "-H", "web[1-3]", "--group", "--",
                "set -- $SSH_CONNECTION; [ $3 = 127.0.0.3 ] && echo odd || echo same",
            ])
            #expect(grouped.status == 0)
            #expect(
                grouped.stdout == """
                    ---------------
                    web[1-2] (2)
                    ---------------
                    same
                    ---------------
                    web3 (1)
                    ---------------
                    odd

                    """, "\(grouped.stdout)")
            let out = site.directory + "/out"
            let err = site.directory + "/err"
            let files = try await Fleetsh.run([
                "-F", site.config, "-H", "web[1-2]", "--outdir", out, "--errdir", err, "--",
                "echo to-out; echo to-err >&2",
            ])
            #expect(files.status == 0)
            for host in ["web1", "web2"] {
                #expect(try String(contentsOfFile: "\(out)/\(host)", encoding: .utf8) == "to-out\n", "pssh -o")
                #expect(try String(contentsOfFile: "\(err)/\(host)", encoding: .utf8) == "to-err\n", "pssh -e")
            }
            let blocks = try await Fleetsh.run([
                "-F", site.config, "-H", "web1", "--blocks", "--", "echo hi; echo oops >&2; exit 2",
            ])
            #expect(blocks.status == 1)
            let lines = blocks.lines
            #expect(
                lines.count == 3 && lines[0].hasPrefix("[1] ")
                    && lines[0].hasSuffix("[FAILURE] web1 exited with status 2"), "\(lines)")
            #expect(Array(lines.dropFirst()) == ["hi", "Stderr: oops"])
        }
    }

    @Test(
        "shards cover every host exactly once; merge gives one report with the run's exit code; failed hosts rerun alone"
    )
    func shardsMergeAndRerun() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let refused = try FreePort.find(host: "127.0.0.4")
            let hostsFile = site.directory + "/hosts"
            // 13 entries: nine more aliases of the three servers, the three by their own aliases, and one dead host.
            var aliases = ""
            for index in 1...9 {
                aliases +=
                    "Host node0\(index)\n    HostName 127.0.0.\(1 + index % 3)\n    Port \(site.servers[index % 3].port)\n"
            }
            let config = try String(contentsOfFile: site.config, encoding: .utf8)
            try (config + aliases).write(toFile: site.config, atomically: true, encoding: .utf8)
            var lines = ["# the fleet", "node0[1-5]", "\(TestUser.name)@node0[6-9]"]
            lines.append("web[1-3]")
            lines.append("127.0.0.4:\(refused)  # dead")
            try lines.joined(separator: "\n").write(toFile: hostsFile, atomically: true, encoding: .utf8)
            let all = try await Fleetsh.run(["-F", site.config, "-f", hostsFile, "--list-hosts"])
            #expect(all.status == 0)
            #expect(all.lines.count == 13, "\(all.lines)")
            var outputs: [String] = []
            var seen: [String] = []
            for shard in 1...3 {
                let listed = try await Fleetsh.run([
                    "-F", site.config, "-f", hostsFile, "--list-hosts", "--shard", "\(shard)/3",
                ])
                seen += listed.lines
                let run = try await Fleetsh.run([
                    "-F", site.config, "-f", hostsFile, "--shard", "\(shard)/3", "--json", "--", "echo", "up",
                ])
                let path = site.directory + "/shard\(shard).jsonl"
                try run.stdout.write(toFile: path, atomically: true, encoding: .utf8)
                outputs.append(path)
                #expect(run.lines.count == listed.lines.count)
            }
            #expect(seen.sorted() == all.lines.sorted(), "every host in exactly one shard")
            let failed = site.directory + "/failed"
            let merged = try await Fleetsh.run(["merge", "--json", "--failed-hosts", failed] + outputs)
            #expect(merged.status == 2, "the dead host: \(merged.stderr)")
            let reports = try merged.lines.map(HostReport.fromJSONLine)
            #expect(reports.map(\.host).sorted() == all.lines.sorted())
            #expect(reports.filter { $0.exitStatus == 0 && $0.stdout == "up\n" }.count == 12)
            #expect(reports.first { $0.host == "127.0.0.4:\(refused)" }?.error?.kind == "connectionRefused")
            #expect(try String(contentsOfFile: failed, encoding: .utf8) == "127.0.0.4:\(refused)\n")
            // The rerun takes the failed list as its hosts and reaches only those.
            let rerun = try await Fleetsh.run(["-F", site.config, "-f", failed, "--list-hosts"])
            #expect(rerun.lines == ["127.0.0.4:\(refused)"])
        }
    }

    @Test(
        "a shard that holds none of the hosts has nothing to do, and says so: exit 0, no report, an empty failed list")
    func emptyShard() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            // Two hosts in eight shards: six or more shards are empty, whichever the hash picks.
            let count = 8
            let empty = try #require(
                (1...count).first { shard in
                    let chosen = try? Shard("\(shard)/\(count)")
                    return !["web1", "web2"].contains { chosen?.contains($0) == true }
                })
            let failed = site.directory + "/failed"
            let result = try await Fleetsh.run([
                "-F", site.config, "-H", "web[1-2]", "--shard", "\(empty)/\(count)", "--json", "--failed-hosts", failed,
                "--", "echo", "up",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr == "fleetsh: shard \(empty)/\(count) holds none of the 2 hosts: nothing to do\n")
            #expect(try String(contentsOfFile: failed, encoding: .utf8).isEmpty)
        }
    }

    @Test("--list-hosts --show-config prints what ssh -G prints for the same host")
    func showConfig() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let ours = try await Fleetsh.run([
                "-F", site.config, "-H", "web2", "-l", "someone", "--list-hosts", "--show-config",
            ])
            #expect(ours.status == 0, "\(ours.stderr)")
            let oracle = try await offPool {
                try ProcessRunner.run(["/usr/bin/ssh", "-G", "-F", site.config, "-l", "someone", "web2"])
            }
            for keyword in ["hostname", "port", "user", "identityfile", "userknownhostsfile", "connectionattempts"] {
                let theirs = oracle.split(separator: "\n").filter { $0.hasPrefix(keyword + " ") }
                let mine = ours.stdout.split(separator: "\n").filter { $0.hasPrefix(keyword + " ") }
                #expect(mine == theirs, "\(keyword)")
            }
        }
    }

    @Test("-I sends standard input to every host; --command-timeout ends a slow host with a timeout")
    func inputAndTimeout() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let input = try await Fleetsh.run(
                ["-F", site.config, "-H", "web[1-2]", "-I", "--", "wc -c"], input: "twelve bytes")
            #expect(input.lines.sorted() == ["web1: 12", "web2: 12"], "\(input.stderr)")
            let started = ContinuousClock.now
            // 10 s covers web1's connect and command on any load; web2 would take 300 s without the timeout.
            let slow = try await Fleetsh.run([
                "-F", site.config, "-H", "web[1-2]", "--command-timeout", "10", "--json", "--",
                "set -- $SSH_CONNECTION; [ $3 = 127.0.0.2 ] && sleep 300; echo done",
            ])
            #expect(ContinuousClock.now - started < .seconds(60))
            #expect(slow.status == 2)
            let reports = try slow.lines.map(HostReport.fromJSONLine)
            #expect(reports.first { $0.host == "web1" }?.stdout == "done\n")
            #expect(reports.first { $0.host == "web2" }?.error?.kind == "timeout")
        }
    }

    @Test(
        "-J reaches the hosts through a jump host, and the tool exits cleanly after the tunnels close",
        arguments: ["libssh2", "libssh"])
    func throughJump(engine: String) async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let jump = try await TestSSHServer.start(host: "127.0.0.4")
            defer { jump.stop() }
            // Enough output that the tunnels still carry data when the targets close (a write to a closed socket pair
            // must not kill the process with SIGPIPE).
            let result = try await Fleetsh.run([
                "-F", site.config, "--engine", engine, "-J", "\(TestUser.name)@\(jump.host):\(jump.port)",
                "-H", "web[1-3]", "--json", "--", "head -c 3000000 /dev/zero | tr '\\0' x; echo",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let reports = try result.lines.map(HostReport.fromJSONLine)
            #expect(reports.map(\.host).sorted() == ["web1", "web2", "web3"])
            #expect(
                reports.allSatisfy {
                    $0.stdout.count == 1 << 20 || $0.stdout.hasPrefix(String(repeating: "x", count: 1000))
                })
            #expect(
                jump.log.components(separatedBy: "Accepted publickey").count - 1 == 1,
                "one jump connection for three hosts")
            // Hosts still streaming when their deadline closes them: the tunnels have data for sockets already closed.
            let cut = try await Fleetsh.run([
                "-F", site.config, "--engine", engine, "-J", "\(TestUser.name)@\(jump.host):\(jump.port)",
                "-H", "web[1-3]", "--command-timeout", "1", "--json", "--", "yes",
            ])
            #expect(cut.status == 2, "killed by a signal shows as \(128 + 13) or -13: \(cut.status) \(cut.stderr)")
            #expect(
                try cut.lines.map(HostReport.fromJSONLine).map { $0.error?.kind } == ["timeout", "timeout", "timeout"])
        }
    }
}
