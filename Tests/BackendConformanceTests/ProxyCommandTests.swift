import Foundation
import SSHBackend
import SSHTestSupport
import Testing

/// OpenSSH's ProxyCommand: the connection runs over a child's stdin and stdout instead of TCP.
@Suite("ProxyCommand", .serialized, .timeLimit(.minutes(10)))
struct ProxyCommandTests {
    /// `ssh -W host:port` through `jump`, OpenSSH's own client as the proxy; with a `marker`, a shell first
    /// touches it (OpenSSH runs the command as `exec <command>`, so the shell is the command).
    static func sshW(through jump: TestSSHServer, marker: String? = nil) -> String {
        let ssh =
            "/usr/bin/ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes "
            + "-o UserKnownHostsFile=\(TestKeys.shared.knownHosts) -o GlobalKnownHostsFile=/dev/null -i \(TestKeys.shared.ed25519) "
            + "-p \(jump.port) -W %h:%p \(TestUser.name)@\(jump.host)"
        guard let marker else { return ssh }
        // -E names the marker in ssh's own arguments, so this test's children can be told from other tests'.
        // The shell also lists the descriptors it was given, in `<marker>.fds` (written by find itself: a redirection
        // would make the shell hold a copy of one).
        return
            "/bin/sh -c 'touch \(marker); find /proc/$$/fd -mindepth 1 -maxdepth 1 -fprintf \(marker).fds \"%f\\n\"; "
            + "exec \(ssh) -E \(marker).log 2>>\(marker).stderr'"
    }

    @Test(
        "through ssh -W on a jump host: commands run, the target's key is checked, the child holds no descriptor of ours beyond stdio and is reaped",
        arguments: Engine.all)
    func throughJump(engine: Engine) async throws {
        let jump = try await TestSSHServer.sharedStarted
        let target = try await TestSSHServer.start(host: "127.0.0.2")
        defer { target.stop() }
        let dir = try scratchDirectory("proxy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = target.options()
        options.proxyCommand = Self.sshW(through: jump, marker: "\(dir)/used")
            .replacingOccurrences(of: "%h", with: target.host).replacingOccurrences(of: "%p", with: String(target.port))
        // A descriptor this process holds without close-on-exec, as another library's would be: not the child's.
        let stray = open("/dev/null", O_RDONLY)
        defer { close(stray) }
        let session: any SSHSession
        do { session = try await engine.backend.connect(options) } catch {
            Issue.record(
                "\(error); the proxy said: \((try? String(contentsOfFile: "\(dir)/used.stderr", encoding: .utf8)) ?? "")"
            )
            return
        }
        #expect(FileManager.default.fileExists(atPath: "\(dir)/used"), "the connection went through the command")
        let fds = (try? String(contentsOfFile: "\(dir)/used.fds", encoding: .utf8)) ?? ""
        #expect(fds.split(separator: "\n").sorted() == ["0", "1", "2"], "the ProxyCommand was given \(fds)")
        let result = try await run(session, "set -- $SSH_CONNECTION; echo $3 $4")
        #expect(result.stdout == "\(target.host) \(target.port)\n")
        let proxies = childProcesses(naming: dir)
        #expect(proxies.count == 1, "one ssh -W child while connected")
        await session.close()
        // The child sees EOF and is reaped from the loop's timers: its /proc entry (a zombie's too) goes away.
        try await waitUntil("the ProxyCommand child gone, not a zombie") {
            !proxies.contains { FileManager.default.fileExists(atPath: "/proc/\($0)") }
        }
    }

    @Test("a ProxyCommand that fails or is not SSH fails the connection, naming the host", arguments: Engine.all)
    func failingCommand(engine: Engine) async throws {
        let target = try await TestSSHServer.sharedStarted
        for command in ["false", "echo not an ssh server", "/nonexistent/proxy"] {
            var options = target.options(operationTimeout: .seconds(10))
            options.proxyCommand = command
            do {
                _ = try await engine.backend.connect(options)
                Issue.record("\(command): expected a failure")
            } catch let error as SSHError {
                #expect(
                    [.handshakeFailed, .connectionLost, .protocolError].contains(error.code), "\(command): \(error)")
                #expect(error.host == target.host)
            }
        }
    }

    /// This process's child processes (zombies included) whose command line names `marker`.
    private func childProcesses(naming marker: String) -> [pid_t] {
        let me = getpid()
        let children = (try? String(contentsOfFile: "/proc/\(me)/task/\(me)/children", encoding: .utf8)) ?? ""
        var all = children.split(separator: " ").compactMap { pid_t($0) }
        // Children of other threads of this process.
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(me)/task")) ?? []
        where task != "\(me)" {
            let more = (try? String(contentsOfFile: "/proc/\(me)/task/\(task)/children", encoding: .utf8)) ?? ""
            all += more.split(separator: " ").compactMap { pid_t($0) }
        }
        return all.filter { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains(marker)
        }
    }
}
