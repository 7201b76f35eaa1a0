import Foundation
import SSHTestSupport
import Testing

/// fleetsh in a real terminal (tmux): the status line appears while hosts run, never mixes with output lines and is
/// cleared at the end; Ctrl-C reports the running hosts, a second Ctrl-C stops them.
@Suite(
    "fleetsh in a terminal", .serialized, .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)),
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"),
        "tmux is missing (scripts/install-deps installs it)"))
struct FleetshTerminalTests {
    /// A tmux session running `command` in an 150x40 terminal (its shell survives Ctrl-C, to print the exit code),
    /// on a tmux server of its own; its pane captured on demand. tmux is run with posix_spawn and waitpid on a
    /// thread of its own (the server it forks outlives the client, which Foundation's Process does not always reap).
    struct Pane: Sendable {
        let name = "fleetsh-\(UUID().uuidString.prefix(8))"

        init(_ command: String) async throws {
            try await tmux([
                "new-session", "-d", "-s", name, "-x", "150", "-y", "40",
                "TERM=xterm-256color /bin/sh -c 'trap : INT; \(command)'; sleep 300",
            ])
        }

        /// Runs `tmux -L <name> arguments`; its output.
        @discardableResult
        func tmux(_ arguments: [String]) async throws -> String {
            let argv = ["/usr/bin/tmux", "-L", name] + arguments
            return try await offPool {
                let path = NSTemporaryDirectory() + "tmux-out-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: path) }
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
                var pid: pid_t = 0
                let cArgs = argv.map { strdup($0) } + [nil]
                defer { for arg in cArgs { free(arg) } }
                guard posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ) == 0 else {
                    throw TestSupportError("cannot run tmux")
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
        }

        func text() async -> String { (try? await tmux(["capture-pane", "-p", "-t", name])) ?? "" }

        func keys(_ keys: String) async throws { try await tmux(["send-keys", "-t", name, keys]) }

        /// The pane's text once it shows `words` (polled: a terminal sends no notification); throws after 60 s.
        func wait(for words: String) async throws -> String {
            try await waitUntil("the pane showing '\(words)'") { await text().contains(words) }
            return await text()
        }

        /// Ends the pane's own tmux server and what runs in it (nothing shared, nothing left behind).
        func close() async {
            let pid = (try? await tmux(["display-message", "-p", "-t", name, "#{pid}"]))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            _ = try? await tmux(["kill-server"])
            if let pid, pid > 1 { kill(pid, SIGKILL) }
        }
    }

    @Test("the status line shows while hosts run and is gone at the end; output lines are intact")
    func statusLine() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            // The commands end when the test says so (a file appears), not after a time a loaded machine may miss.
            let gate = try scratchDirectory("status-gate")
            defer { try? FileManager.default.removeItem(atPath: gate) }
            let command = "echo start; while [ ! -e \(gate)/go ]; do sleep 0.1; done; echo end"
            let pane = try await Pane("\(Fleetsh.path) -F \(site.config) -H web[1-3] -- \"\(command)\"; echo exit=$?")
            let during = try await pane.wait(for: "running 3")
            #expect(during.contains("done 0/3") && during.contains("running 3"), "\(during)")
            _ = FileManager.default.createFile(atPath: gate + "/go", contents: nil)
            let after = try await pane.wait(for: "exit=")
            let lines = after.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(
                lines.filter { $0.hasSuffix(": start") }.count == 3
                    && lines.filter { $0.hasSuffix(": end") }.count == 3, "\(after)")
            #expect(lines.allSatisfy { !$0.contains("done ") }, "the status line was cleared: \(after)")
            #expect(
                lines.allSatisfy { $0.isEmpty || $0.hasPrefix("web") || $0 == "exit=0" },
                "no line mixes output and status: \(after)")
            await pane.close()
        }
    }

    @Test("Ctrl-C lists the running hosts; a second Ctrl-C stops them and exits 130")
    func interrupt() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let pane = try await Pane(
                "\(Fleetsh.path) -F \(site.config) -H web[1-3] --no-progress -- \"echo start; sleep 30\"; echo exit=$?")
            _ = try await pane.wait(for: "web3: start")
            _ = try await pane.wait(for: "web1: start")
            try await pane.keys("C-c")
            let first = try await pane.wait(for: "still running")
            #expect(first.contains("still running on 3 host(s): web[1-3]"), "\(first)")
            #expect(!first.contains("exit="))
            let started = ContinuousClock.now
            try await pane.keys("C-c")
            let after = try await pane.wait(for: "exit=")
            #expect(after.contains("exit=130"), "\(after)")
            // Stopped by the second Ctrl-C, not by the commands' end 30 s later (no load takes that long).
            #expect(ContinuousClock.now - started < .seconds(25))
            await pane.close()
        }
    }

    @Test(
        "--ask-password asks once on the terminal, without echo, and every host logs in with it (pssh -A)",
        .enabled(if: PasswordUser.shared != nil, "\(PasswordUser.unavailableReason)"))
    func askPassword() async throws {
        let account = try #require(try await PasswordUser.prepared)
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            // No key is offered, so only the password can log in.
            let pane = try await Pane(
                "\(Fleetsh.path) -F \(site.config) -l \(account.name) -o PubkeyAuthentication=no --ask-password "
                    + "-H web[1-3] --no-progress -- \"echo as-\\$(id -un)\"; echo exit=$?")
            _ = try await pane.wait(for: "Password (for every host):")
            try await pane.tmux(["send-keys", "-t", pane.name, "-l", account.password])
            try await pane.keys("Enter")
            let after: String
            do { after = try await pane.wait(for: "exit=") } catch {
                Issue.record("\(error): the pane shows \(await pane.text())")
                throw error
            }
            #expect(after.contains("exit=0"), "\(after)")
            for host in ["web1", "web2", "web3"] { #expect(after.contains("\(host): as-\(account.name)"), "\(after)") }
            #expect(!after.contains(account.password), "the password was not echoed")
            await pane.close()
        }
        // Without a terminal to ask on (a new session: no controlling terminal), it is a usage error.
        let alone = try await offPool {
            try ProcessRunner.outcome([
                "/usr/bin/setsid", "-w", Fleetsh.path, "-F", "none", "--ask-password", "-H", "web1", "--", "true",
            ])
        }
        #expect(
            alone.status == 64 && alone.output == "fleetsh: --ask-password needs a terminal to ask on\n",
            "\(alone.output)")
    }

    @Test("without a terminal there are no escape codes")
    func noTerminal() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let result = try await Fleetsh.run(
                ["-F", site.config, "-H", "web[1-3]", "--", "echo hi"], environment: ["NO_COLOR": "0"])
            #expect(!result.stdout.contains("\u{1B}") && !result.stderr.contains("\u{1B}"))
            #expect(result.lines.count == 3)
        }
    }
}
