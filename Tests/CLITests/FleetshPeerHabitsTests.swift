import FleetCLI
import Foundation
import SSHTestSupport
import Testing

/// More of what pssh, pdsh and clush users bring: clush's groups, dshbak's merge, failures in words, and remote
/// commands ended, not left running, when fleetsh stops them.
@Suite("fleetsh: groups, merge, words, stopped commands", .timeLimit(.minutes(5)))
struct FleetshPeerHabitsTests {
    /// A clush configuration directory of the test's own: the system's `groups.conf` and a `groups` file.
    private func clushDirectory(groups: String) throws -> String {
        let directory = try scratchDirectory("clush-config")
        try FileManager.default.copyItem(
            atPath: "/etc/clustershell/groups.conf", toPath: directory + "/groups.conf")
        try groups.write(toFile: directory + "/groups", atomically: true, encoding: .utf8)
        return directory
    }

    @Test(
        "-g and @group name the hosts clush's nodeset gives for the same groups file",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nodeset")
                && FileManager.default.fileExists(atPath: "/etc/clustershell/groups.conf"),
            "clustershell is missing (scripts/install-deps installs it)"))
    func groupsAsClush() async throws {
        let directory = try clushDirectory(
            groups: """
                # the test's groups
                web: web[1-3]
                db: db1 db2
                all: @web,@db
                web: extra1
                compute: node[01-12]

                """)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let environment = ["CLUSTERSHELL_CFGDIR": directory]
        let cases: [(ours: [String], nodeset: [String])] = [
            (["-g", "all"], ["@all"]),
            (["-g", "all", "-x", "@db"], ["@all", "-x", "@db"]),
            (["-H", "@web,db9"], ["@web,db9"]),
            (["-g", "compute", "-x", "node[02-11]"], ["@compute", "-x", "node[02-11]"]),
        ]
        for (ours, theirs) in cases {
            let listed = try await Fleetsh.run(ours + ["--list-hosts"], environment: environment)
            let oracle = try await offPool {
                try ProcessRunner.outcome(
                    ["/usr/bin/env", "CLUSTERSHELL_CFGDIR=\(directory)", "nodeset", "-e"] + theirs)
            }
            #expect(listed.status == 0, "\(ours): \(listed.stderr)")
            #expect(
                listed.lines.sorted() == oracle.output.split(whereSeparator: \.isWhitespace).map(String.init).sorted(),
                "\(ours): ours \(listed.lines), nodeset \(oracle.output)")
        }
        let missing = try await Fleetsh.run(["-g", "nope", "--list-hosts"], environment: environment)
        #expect(
            missing.status == 64 && missing.stderr == "fleetsh: -g: no group 'nope' in \(directory)/groups\n",
            "\(missing.stderr)")
        let file = directory + "/loop"
        try "a: @b\nb: @a\n".write(toFile: file, atomically: true, encoding: .utf8)
        let loop = try await Fleetsh.run(["--groups-file", file, "-g", "a", "--list-hosts"])
        #expect(loop.status == 64 && loop.stderr.contains("contains itself (a > b > a)"), "\(loop.stderr)")
    }

    @Test("a bad groups file or group name is one usage line naming the file, its line or the group")
    func badGroups() async throws {
        let directory = try scratchDirectory("bad-groups")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [(text: String, arguments: [String], says: String)] = [
            ("web web1\n", ["-g", "web"], "line 1: not 'name: node sets'"),
            ("a b: x\n", ["-g", "a"], "line 1: 'a b' is not a group name"),
            ("web: web[1-\n", ["-g", "web"], "group 'web' in "),
            ("a: @b\nb: x[\n", ["-g", "a"], "group 'b' in "),
            ("web: w1\n", ["-g", ""], "a group name is empty"),
            ("web: w1\n", ["-H", "@"], "a group name is empty"),
        ]
        for (index, (text, arguments, says)) in cases.enumerated() {
            let file = "\(directory)/groups-\(index)"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try await Fleetsh.run(["--groups-file", file] + arguments + ["--list-hosts"])
            #expect(result.status == 64 && result.stderr.contains(says), "\(text): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        }
        let missing = try await Fleetsh.run(["--groups-file", "\(directory)/none", "-g", "web", "--list-hosts"])
        #expect(missing.status == 64 && missing.stderr.contains("\(directory)/none: no such file"), "\(missing.stderr)")
    }

    @Test("-g runs the command on the group's hosts")
    func groupRun() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let groups = site.directory + "/groups"
        try "front: web[1-2]\n".write(toFile: groups, atomically: true, encoding: .utf8)
        let result = try await Fleetsh.run([
            "-F", site.config, "--groups-file", groups, "-g", "front", "--", "echo hi",
        ])
        #expect(result.status == 0 && result.lines.sorted() == ["web1: hi", "web2: hi"], "\(result.stderr)")
    }

    @Test(
        "merge - groups pdsh's 'host: text' lines as dshbak -c groups them",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/dshbak"),
            "dshbak is missing (scripts/install-deps installs pdsh)"))
    func mergeAsDshbak() async throws {
        let text = """
            web1: up 3 days
            web2: up 3 days
            web1: load 0.1
            db1: up 9 days
            web3: up 1 day
            web2: load 0.1
            web3: load 0.2
            db1: load 0.1

            """
        let merged = try await Fleetsh.run(["merge", "-"], input: text)
        #expect(merged.status == 0, "\(merged.stderr)")
        let input = NSTemporaryDirectory() + "dshbak-\(UUID().uuidString)"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let oracle = try await offPool { try ProcessRunner.outcome(["/bin/sh", "-c", "dshbak -c < \(input)"]) }
        #expect(
            try groups(merged.stdout) == groups(oracle.output), "ours:\n\(merged.stdout)\ndshbak:\n\(oracle.output)")
        let bad = try await Fleetsh.run(["merge", "-"], input: "no separator here\n")
        #expect(bad.status == 64 && bad.stderr.contains("line 1 is neither"), "\(bad.stderr)")
    }

    /// Blocks of `---- / hosts / ---- / lines` (both tools' layout) as a set of (hosts, lines), hosts expanded.
    private func groups(_ text: String) throws -> Set<[String]> {
        var result = Set<[String]>()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var index = 0
        while index < lines.count {
            guard lines[index].hasPrefix("---"), index + 2 < lines.count else {
                index += 1
                continue
            }
            // Ours adds " (count)" after the hosts.
            let header = lines[index + 1].split(separator: " ").first.map(String.init) ?? ""
            var body: [String] = []
            index += 3
            while index < lines.count, !lines[index].hasPrefix("---"), !lines[index].isEmpty {
                body.append(lines[index].trimmingCharacters(in: .whitespaces))
                index += 1
            }
            result.insert(try NodeSet.expand(header).sorted() + ["|"] + body)
        }
        return result
    }

    @Test("a failed host is one line in words; -v and --json add the error's code and the library's own code")
    func failuresInWords() async throws {
        let port = try FreePort.find(host: "127.0.0.1")
        let host = "127.0.0.1:\(port)"
        let plain = try await Fleetsh.run(["-F", "none", "-H", host, "--", "true"])
        #expect(plain.status == 2)
        #expect(
            plain.stderr == "fleetsh: \(host): TCP connect to \(host) failed: Connection refused\n", "\(plain.stderr)")
        let verbose = try await Fleetsh.run(["-F", "none", "-v", "-H", host, "--", "true"])
        #expect(
            verbose.stderr.contains("SSHError.connectionRefused") && verbose.stderr.contains("native code 111"),
            "\(verbose.stderr)")
        let json = try await Fleetsh.run(["-F", "none", "--json", "-H", host, "--", "true"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let error = object?["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "connectionRefused")
        #expect((error?["detail"] as? String)?.contains("native code 111") == true, "\(json.stdout)")
    }

    @Test("an unknown host key says so in words and how to trust it with fleetsh keyscan")
    func unknownKeyInWords() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let result = try await Fleetsh.run([
            "-F", site.config, "-o", "UserKnownHostsFile=/dev/null", "-H", "web1", "--", "true",
        ])
        #expect(result.status == 3)
        #expect(
            result.stderr.hasPrefix("fleetsh: web1: host key unknown: ")
                && result.stderr.contains("fleetsh keyscan -H web1 --accept") && !result.stderr.contains("SSHError"),
            "\(result.stderr)")
    }

    /// Whether process `pid` still runs (a zombie has ended).
    private static func alive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    /// The pids the remote commands wrote to `file`, once there are `count`.
    private static func pids(in file: String, count: Int) async throws -> [pid_t] {
        try await waitUntil("\(count) remote command(s) started") {
            ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").count >= count
        }
        return try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").compactMap { pid_t($0) }
    }

    @Test(
        "--command-timeout ends the remote command (libssh: TERM; libssh2 with a PTY: the hang-up), not left running",
        arguments: [["--engine", "libssh"], ["--engine", "libssh2", "--pty"]])
    func timeoutEndsCommand(_ options: [String]) async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let pids = site.directory + "/pids"
        _ = FileManager.default.createFile(atPath: pids, contents: nil)
        chmod(pids, 0o666)
        let result = try await Fleetsh.run(
            ["-F", site.config, "-H", "web1", "--command-timeout", "2"] + options
                + ["--", "echo $$ >> \(pids); exec sleep 600"])
        #expect(result.status == 2 && result.stderr.contains("--command-timeout"), "\(result.stderr)")
        let started = try await Self.pids(in: pids, count: 1)
        // The command would sleep 600 s if left running.
        try await waitUntil("the remote command ended") { started.allSatisfy { !Self.alive($0) } }
    }

    @Test("a second Ctrl-C ends the remote commands it stops, not only fleetsh")
    func stopEndsCommands() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let pids = site.directory + "/pids"
        _ = FileManager.default.createFile(atPath: pids, contents: nil)
        chmod(pids, 0o666)
        let errors = site.directory + "/stderr"
        let process = try ChildProgram.start(
            [
                Fleetsh.path, "-F", site.config, "-H", "web[1-3]", "-P", "2", "--no-progress", "--",
                "echo $$ >> \(pids); exec sleep 600",
            ],
            stdout: "/dev/null", stderr: errors)
        let started = try await Self.pids(in: pids, count: 2)
        process.send(SIGINT)
        try await waitUntil("the first Ctrl-C's report") {
            ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("still running")
        }
        process.send(SIGINT)
        #expect(try await offPool { process.wait() } == .exit(130))
        try await waitUntil("the stopped commands ended") { started.allSatisfy { !Self.alive($0) } }
    }
}
