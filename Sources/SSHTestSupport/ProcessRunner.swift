import Foundation
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Runs short helper commands (ssh-keygen, ssh-add, useradd) and spawns long-lived servers that die with us.
public enum ProcessRunner {
    /// Runs `arguments` to completion; throws with its output when it fails.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil)
        throws -> String
    {
        let (status, text) = try outcome(arguments, environment: environment, input: input)
        guard status == 0 else {
            throw TestSupportError("\(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
        return text
    }

    /// Runs `arguments` to completion and returns its exit status and its output (stdout and stderr together),
    /// whatever the status: for oracles whose status is an answer (`ssh-keygen -F`).
    public static func outcome(_ arguments: [String], environment: [String: String] = [:], input: String? = nil)
        throws -> (status: Int32, output: String)
    {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        // Output goes to a file, not a pipe: a pipe's write end can leak into a process spawned concurrently by
        // another test, and reading to EOF would then wait for that process.
        let outputPath = NSTemporaryDirectory() + "pssh-run-\(UUID().uuidString).log"
        let inputPath = outputPath + ".in"
        defer {
            try? FileManager.default.removeItem(atPath: outputPath)
            try? FileManager.default.removeItem(atPath: inputPath)
        }
        if let input { try input.write(toFile: inputPath, atomically: true, encoding: .utf8) }
        let termination = try ChildProgram.run(
            arguments, environment: env, stdin: input == nil ? nil : inputPath,
            stdout: outputPath, stderr: outputPath)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (termination.status, text)
    }

    /// Starts `arguments` under a watchdog shell that kills it when our end of a pipe closes, which happens
    /// when ``SpawnedProcess/stop()`` runs or when this process dies for any reason (a crash, a failed test,
    /// SIGKILL). Servers therefore never outlive the tests.
    public static func spawnGuarded(_ arguments: [String], logFile: String, environment: [String: String] = [:])
        throws -> SpawnedProcess
    {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestSupportError("pipe failed") }
        // Our end must not leak into other children, or a sibling watchdog would keep this one alive.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        // The watchdog first closes every descriptor it inherited beyond stdio (other tests' pipes must not be
        // held open by it), then starts the server, waits for EOF on stdin (our lifeline), and kills the server.
        let script = #"""
            for fd in /proc/$$/fd/*; do
                fd=${fd##*/}
                if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null; fi
            done
            "$@" </dev/null >>"$LOGFILE" 2>&1 &
            child=$!
            echo "$child" >"$LOGFILE.pid"
            read -r _
            kill "$child" 2>/dev/null
            """#
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        ChildProcess.closeInheritedDescriptors(&actions)
        let argv = ["/bin/bash", "-c", script, "watchdog"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["LOGFILE"] = logFile
        for (key, value) in environment { env[key] = value }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for argument in cArgs { free(argument) }
            for variable in cEnv { free(variable) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        ChildProcess.startWithDefaultSignals(&attributes)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/bash", &actions, &attributes, cArgs, cEnv)
        close(fds[0])
        guard rc == 0 else {
            close(fds[1])
            throw TestSupportError("posix_spawn failed: \(rc)")
        }
        return SpawnedProcess(watchdog: pid, lifeline: fds[1], logFile: logFile)
    }
}

/// Serialises our spawns so one watchdog's pipe never leaks into another between `pipe` and `fcntl`.
private let spawnLock = NSLock()

/// A process started by ``ProcessRunner/spawnGuarded(_:logFile:environment:)``.
public final class SpawnedProcess: @unchecked Sendable {
    private let watchdog: pid_t
    private let lock = NSLock()
    private var lifeline: Int32
    /// Where the process's output goes.
    public let logFile: String

    init(watchdog: pid_t, lifeline: Int32, logFile: String) {
        self.watchdog = watchdog
        self.lifeline = lifeline
        self.logFile = logFile
    }

    /// The server's own pid, once the watchdog wrote it.
    public var pid: pid_t? {
        (try? String(contentsOfFile: logFile + ".pid", encoding: .utf8)).flatMap {
            pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// The log so far.
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Stops the process and waits for it. Idempotent.
    public func stop() {
        lock.lock()
        let fd = lifeline
        lifeline = -1
        lock.unlock()
        guard fd >= 0 else { return }
        close(fd)
        var status: Int32 = 0
        _ = waitpid(watchdog, &status, 0)
    }

    deinit { stop() }
}

/// A failure inside the test support itself (not in the code under test).
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
