import Foundation
import SSHTestSupport
import Testing

/// What a pssh, pdsh or clush user types, and what they expect back (issue "fleetsh for people with pssh, pdsh and
/// clush in their fingers"): mistakes are one usage line before anything connects, and messages name hosts.
@Suite("fleetsh habits from pssh, pdsh and clush", .timeLimit(.minutes(5)))
struct FleetshHabitsTests {
    @Test("a host list that names nobody is a usage error saying where the hosts came from, as pdsh and pssh refuse it")
    func emptyHostList() async throws {
        let dir = try scratchDirectory("fleetsh-empty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hosts = dir + "/hosts"
        try "# nothing but comments\n\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let fromFile = try await Fleetsh.run(["-F", "none", "-f", hosts, "--", "true"])
        #expect(
            fromFile.status == 64 && fromFile.stderr.contains("no hosts to run on: the file \(hosts) named none"),
            "\(fromFile.status) \(fromFile.stderr)")
        let excluded = try await Fleetsh.run(["-F", "none", "-H", "web[1-2]", "-x", "web[1-2]", "--", "true"])
        #expect(excluded.status == 64 && excluded.stderr.contains("after -x web[1-2]"), "\(excluded.stderr)")
    }

    @Test("-F naming a missing file is refused before anything connects, as ssh -F refuses it")
    func missingConfigFile() async throws {
        let missing = "/nonexistent/pssh-ssh_config"
        let ours = try await Fleetsh.run(["-F", missing, "-H", "127.0.0.1", "--", "true"])
        #expect(ours.status == 64 && ours.stderr == "fleetsh: -F \(missing): no such file\n", "\(ours.stderr)")
        let ssh = try await offPool { try ProcessRunner.outcome(["/usr/bin/ssh", "-F", missing, "127.0.0.1", "true"]) }
        #expect(ssh.status == 255, "ssh refuses too: \(ssh.output)")
    }

    @Test("a bad -o line is one line naming it, not one per host, before anything connects (ssh -G refuses it too)")
    func badOptionOnce() async throws {
        let result = try await Fleetsh.run(["-F", "none", "-o", "NoSuchKeyword=yes", "-H", "web[1-5]", "--", "true"])
        #expect(
            result.status == 64
                && result.stderr == "fleetsh: -o 'NoSuchKeyword=yes': Bad configuration option: nosuchkeyword\n",
            "\(result.stderr)")
        let ssh = try await offPool {
            try ProcessRunner.outcome(["/usr/bin/ssh", "-G", "-F", "none", "-o", "NoSuchKeyword=yes", "web1"])
        }
        #expect(ssh.status == 255, "\(ssh.output)")
    }

    @Test(
        "a bad line in the ssh_config file is one line naming it, for run, copy, fetch and keyscan alike, before anything connects (ssh -G refuses it too)"
    )
    func badFileLineOnce() async throws {
        let directory = try scratchDirectory("fleetsh-bad-config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/config"
        // The bad value sits in a block no host here matches: ssh refuses the whole file all the same.
        try "Host db\n    Port abc\nHost web*\n    HostName 127.0.0.1\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let ssh = try await offPool { try ProcessRunner.outcome(["/usr/bin/ssh", "-G", "-F", config, "web1"]) }
        #expect(ssh.status == 255 && ssh.output.contains("line 2"), "\(ssh.output)")
        try "x".write(toFile: directory + "/file", atomically: true, encoding: .utf8)
        for command in [
            ["--", "true"], ["copy", directory + "/file", "/tmp/x"], ["fetch", "/etc/hostname", directory + "/out"],
            ["keyscan"],
        ] {
            let subcommand = command[0] == "--" ? [] : [command[0]]
            let rest = command[0] == "--" ? command : Array(command.dropFirst())
            let result = try await Fleetsh.run(subcommand + ["-F", config, "-H", "web[1-5]"] + rest)
            #expect(
                result.status == 64 && result.stderr == "fleetsh: \(config) line 2: Badly formatted port number.\n",
                "\(command): \(result.stderr)")
        }
    }

    @Test("copy of a directory without -r is one usage line, before anything connects (as cp and scp)")
    func directoryWithoutRecursive() async throws {
        let directory = try scratchDirectory("fleetsh-copy-dir")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // web1..web5 resolve nowhere: a connection attempt would show as unknown hosts and exit code 2.
        let result = try await Fleetsh.run(["copy", "-F", "none", "-H", "web[1-5]", directory, "/tmp/x"])
        #expect(
            result.status == 64 && result.stderr == "fleetsh: \(directory) is a directory (copy it with -r)\n",
            "\(result.status): \(result.stderr)")
        let cp = try await offPool { try ProcessRunner.outcome(["/bin/cp", directory, directory + "-copy"]) }
        #expect(cp.status != 0 && cp.output.contains("-r not specified"), "\(cp.output)")
    }

    @Test("--outdir and --errdir naming one directory, or a file, are one usage line before anything connects")
    func outputDirectories() async throws {
        let directory = try scratchDirectory("fleetsh-outdir")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // web1..web5 resolve nowhere: a connection attempt would show as unknown hosts and exit code 2.
        let same = try await Fleetsh.run([
            "-F", "none", "-H", "web[1-5]", "--outdir", directory + "/out", "--errdir", directory + "/./out/", "true",
        ])
        #expect(
            same.status == 64
                && same.stderr
                    == "fleetsh: --outdir and --errdir are the same directory: a host's stderr would overwrite its stdout\n",
            "\(same.status): \(same.stderr)")
        try "x".write(toFile: directory + "/file", atomically: true, encoding: .utf8)
        let file = try await Fleetsh.run(["-F", "none", "-H", "web[1-5]", "--outdir", directory + "/file/sub", "true"])
        #expect(
            file.status == 64
                && file.stderr == "fleetsh: cannot create local directory \(directory)/file: it is not a directory\n",
            "\(file.status): \(file.stderr)")
    }

    @Test("--version prints the version of CHANGELOG.md's latest release")
    func version() async throws {
        let result = try await Fleetsh.run(["--version"])
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let changelog = try String(contentsOf: root.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        let released = changelog.split(separator: "\n").first { $0.hasPrefix("## ") && !$0.contains("Unreleased") }
        let expected = released.map { $0.dropFirst(3).split(separator: " ").first.map(String.init) ?? "" } ?? "none"
        #expect(result.status == 0 && result.stdout == expected + "\n", "\(result.stdout) \(result.stderr)")
    }

    @Test("a missing -i key is one line, not one per host")
    func missingKeyOnce() async throws {
        let result = try await Fleetsh.run(["-F", "none", "-i", "/nonexistent/key", "-H", "web[1-5]", "--", "true"])
        #expect(
            result.status == 64 && result.stderr == "fleetsh: -i /nonexistent/key: no such file\n", "\(result.stderr)")
    }

    @Test("-b: hosts failing alike share a line that names them, with no placeholder left in the text")
    func groupedFailures() async throws {
        let dead = try FreePort.find(host: "127.0.0.1")
        let result = try await Fleetsh.run([
            "-F", "none", "--insecure-no-host-key-check", "--attempts", "1", "-b",
            "-H", "127.0.0.1:\(dead),127.0.0.2:\(dead)", "--", "true",
        ])
        #expect(result.status == 2, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(
            lines.count == 1
                && lines[0].hasPrefix(
                    "fleetsh: 127.0.0.1:\(dead),127.0.0.2:\(dead): TCP connect to <host> failed: Connection refused"),
            "\(lines)")
        #expect(!result.stderr.contains("%h") && !result.stderr.contains("\u{E000}"), "\(result.stderr)")
        #expect(!result.stderr.contains("SSHError") && !result.stderr.contains("native"), "\(result.stderr)")
    }

    @Test("run --help and -H host --help print the run's help and exit 0, connecting nowhere")
    func help() async throws {
        let root = try await Fleetsh.run(["--help"])
        #expect(
            root.status == 0 && root.stdout.contains("Coming from pssh, pdsh or clush")
                && root.stdout.contains("is -P here"), "\(root.stdout)")
        for arguments in [["run", "--help"], ["-H", "127.0.0.1", "--help"], ["-H", "127.0.0.1", "-h"]] {
            let result = try await Fleetsh.run(arguments)
            #expect(
                result.status == 0 && result.stdout.contains("USAGE: fleetsh run"), "\(arguments): \(result.stderr)")
        }
    }

    @Test(
        "an option fleetsh does not know (pssh's -O, pdsh's -e and -S, a typo) is a usage error, never sent to the hosts"
    )
    func unknownOptions() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        for option in ["--bogus-option", "-O", "-S", "-e"] {  // -A is ssh's agent forwarding here
            let result = try await Fleetsh.run(["-F", site.config, "-H", "web1", option, "x", "--", "echo hi"])
            #expect(
                result.status == 64 && result.stderr.contains("unknown option '\(option)'"),
                "\(option): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let logins = site.servers[0].log.components(separatedBy: "Accepted publickey").count - 1
        #expect(logins == 0, "nothing connected")
        // After --, options are the command's.
        let dashed = try await Fleetsh.run(["-F", site.config, "-H", "web1", "--", "echo", "-n", "ran"])
        #expect(dashed.lines == ["web1: ran"], "\(dashed.stdout) \(dashed.stderr)")
    }

    /// Runs `sleep 60` on 20 host entries (all the first server), 2 at a time, with `options`, and presses Ctrl-C
    /// twice: once the two commands run, then once fleetsh has reported them. Returns fleetsh's stdout file.
    private func stoppedTwice(_ options: [String]) async throws -> (site: Site, stdout: String) {
        let site = try await Site.start()
        do { return (site, try await pressCtrlCTwice(site, options)) } catch {
            site.stop()
            throw error
        }
    }

    private func pressCtrlCTwice(_ site: Site, _ options: [String]) async throws -> String {
        let server = site.servers[0]
        let text = try String(contentsOfFile: site.config, encoding: .utf8)
        try ("Host h*\n    HostName \(server.host)\n    Port \(server.port)\n" + text)
            .write(toFile: site.config, atomically: true, encoding: .utf8)
        let output = site.directory + "/stdout"
        let errors = site.directory + "/stderr"
        let process = try ChildProgram.start(
            [Fleetsh.path, "-F", site.config, "-H", "h[1-20]", "-P", "2", "--no-progress"] + options
                + ["--", "echo started; exec sleep 60"], stdout: output, stderr: errors)
        // The events: two hosts' commands running, then the first Ctrl-C's report of them.
        _ = try await server.waitForSessionProcesses(running: "sleep 60", count: 2)
        process.send(SIGINT)
        try await waitUntil("the first Ctrl-C's report") {
            ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("still running")
        }
        process.send(SIGINT)
        let termination = try await offPool { process.wait() }
        #expect(termination == .exit(130))
        return output
    }

    @Test("Ctrl-C twice with --json: a line for every host, cancelled for those that ran, notStarted for the others")
    func jsonAfterStop() async throws {
        let (site, output) = try await stoppedTwice(["--json"])
        defer { site.stop() }
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        let kinds = try lines.map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["error"] as? [String: Any])?["kind"] as? String ?? "none"
        }
        #expect(lines.count == 20, "\(lines)")
        #expect(
            kinds.filter { $0 == "cancelled" }.count == 2 && kinds.filter { $0 == "notStarted" }.count == 18, "\(kinds)"
        )
    }

    @Test("Ctrl-C twice: --failed-hosts lists every host that did not succeed, the ones never started too")
    func failedHostsAfterStop() async throws {
        let failed = NSTemporaryDirectory() + "fleetsh-failed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: failed) }
        let (site, _) = try await stoppedTwice(["--failed-hosts", failed])
        defer { site.stop() }
        #expect(try String(contentsOfFile: failed, encoding: .utf8) == "h[1-20]\n")
    }

    @Test("-vvv shows each host's connection as it is made, named as its output is; -v and -vv do not")
    func verbosity() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let levels = ["-v", "-vv", "-vvv"]
        var results: [Fleetsh.Result] = []
        for level in levels {
            results.append(try await Fleetsh.run(["-F", site.config, "-H", "web[1-2]", level, "--", "true"]))
        }
        for (level, result) in zip(levels, results) {
            #expect(result.status == 0, "\(level): \(result.stderr)")
            let connected = result.stderr.split(separator: "\n").filter { $0.hasSuffix(": connected") }.sorted()
            #expect(
                connected == (level == "-vvv" ? ["fleetsh: web1: connected", "fleetsh: web2: connected"] : []),
                "\(level): \(result.stderr)")
        }
    }

    @Test(
        "--outdir alone writes stdout to files instead of printing it (pssh -o); stderr still prints; --json prints too"
    )
    func outdirAlone() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let out = site.directory + "/out"
        let command = "echo to-out; echo to-err >&2"
        let alone = try await Fleetsh.run(["-F", site.config, "-H", "web[1-2]", "--outdir", out, "--", command])
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(!alone.stdout.contains("to-out"), "\(alone.stdout)")
        #expect(alone.stderr.split(separator: "\n").sorted() == ["web1: to-err", "web2: to-err"], "\(alone.stderr)")
        for host in ["web1", "web2"] {
            #expect(try String(contentsOfFile: "\(out)/\(host)", encoding: .utf8) == "to-out\n")
        }
        let json = try await Fleetsh.run(["-F", site.config, "-H", "web1", "--outdir", out, "--json", "--", command])
        #expect(json.status == 0 && json.stdout.contains("to-out"), "\(json.stdout)")
    }

    @Test(
        "-L prints every host's lines at the end in the host list's order, as clush -L, whatever order they finished in"
    )
    func orderedByHost() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        // web1 (127.0.0.1) finishes last: it waits for the others' marks (the servers share this file system).
        let marks = site.directory + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        chmod(marks, 0o777)
        let command =
            "set -- $SSH_CONNECTION; if [ $3 = 127.0.0.1 ]; then while [ $(ls \(marks) | wc -l) -lt 2 ]; do sleep 0.1; done; "
            + "fi; echo one; echo two; touch \(marks)/$3"
        let ordered = try await Fleetsh.run([
            "-F", site.config, "-H", "web[1-3]", "-L", "--command-timeout", "120", "--", command,
        ])
        #expect(ordered.status == 0, "\(ordered.stderr)")
        #expect(
            ordered.lines == ["web1: one", "web1: two", "web2: one", "web2: two", "web3: one", "web3: two"],
            "\(ordered.stdout)")
        let both = try await Fleetsh.run(["-F", site.config, "-H", "web1", "-L", "--json", "--", "true"])
        #expect(both.status == 64 && both.stderr.contains("choose one of"), "\(both.stderr)")
    }

    @Test("--diff shows the output most hosts share against the others as unified diffs, as clush --diff")
    func diffAgainstMostCommon() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let command = "set -- $SSH_CONNECTION; echo a; [ $3 = 127.0.0.2 ] && echo B || echo b; echo c"
        let result = try await Fleetsh.run(["-F", site.config, "-H", "web[1-3]", "--diff", "--", command])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.lines == ["--- web[1,3] (2)", "+++ web2 (1)", "@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"],
            "\(result.stdout)")
        let same = try await Fleetsh.run(["-F", site.config, "-H", "web[1-3]", "--diff", "--", "echo same"])
        #expect(same.status == 0 && same.stdout.isEmpty, "\(same.stdout)")
    }

    @Test("pdsh and clush letters: -w names hosts as -H does, -N prints lines without the host in front")
    func peerLetters() async throws {
        let site = try await Site.start()
        defer { site.stop() }
        let withW = try await Fleetsh.run(["-F", site.config, "-w", "web[1-2]", "--", "echo hi"])
        #expect(
            withW.status == 0 && withW.lines.sorted() == ["web1: hi", "web2: hi"], "\(withW.stdout) \(withW.stderr)")
        let bare = try await Fleetsh.run(["-F", site.config, "-w", "web1", "-N", "--", "echo hi; echo there"])
        #expect(bare.status == 0 && bare.lines == ["hi", "there"], "\(bare.stdout) \(bare.stderr)")
        let mixed = try await Fleetsh.run(["-F", site.config, "-w", "web1", "-N", "--json", "--", "true"])
        #expect(mixed.status == 64)
    }

    @Test("-f - and -I both want standard input: a usage error, before anything is read or connects")
    func stdinTwice() async throws {
        let result = try await Fleetsh.run(["-F", "none", "-f", "-", "-I", "--", "cat"], input: "web1\n")
        #expect(result.status == 64 && result.stderr.contains("both read standard input"), "\(result.stderr)")
    }
}
