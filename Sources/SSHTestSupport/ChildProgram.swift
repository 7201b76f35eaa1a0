import Foundation
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A program the tests start with `posix_spawn` and wait for with `waitpid`, in place of Foundation's `Process`.
///
/// `Process` learns that its child exited from a socket pair it creates without close-on-exec: a child another thread
/// spawns meanwhile (a server's watchdog, a ProxyCommand, tmux) inherits the pair's other end, and `waitUntilExit`
/// then also waits for that child, for the whole run when it is a shared server. Here the child closes every
/// descriptor above stderr, starts with no signal blocked (the spawning thread may block some), and nothing but
/// `waitpid` learns of its end.
public struct ChildProgram: Sendable {
    /// How a child ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        /// It called `exit` with this status.
        case exit(Int32)
        /// A signal killed it.
        case signal(Int32)

        /// A shell's `$?`: the exit status, or 128 plus the signal.
        public var status: Int32 {
            switch self {
            case .exit(let code): code
            case .signal(let number): 128 + number
            }
        }

        public var description: String {
            switch self {
            case .exit(let code): "exit \(code)"
            case .signal(let number): "signal \(number)"
            }
        }
    }

    /// The child's process id.
    public let pid: pid_t

    /// Starts `arguments` (an absolute path first) with standard input read from the file `stdin`, output written
    /// to the files `stdout` and `stderr` (created or truncated; the same path gives both streams one file), each `/dev/null` when not given, and `environment`
    /// (this process's when nil).
    public static func start(
        _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
        stdout: String? = nil, stderr: String? = nil
    ) throws -> ChildProgram {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if stderr != nil && stderr == stdout {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)  // one file, one offset: the two streams interleave
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        ChildProcess.closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        ChildProcess.startWithDefaultSignals(&attributes)
        let env = environment ?? ProcessInfo.processInfo.environment
        let cArguments = arguments.map { strdup($0) } + [nil]
        let cEnvironment = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for argument in cArguments { free(argument) }
            for variable in cEnvironment { free(variable) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, cArguments, cEnvironment)
        guard rc == 0 else { throw TestSupportError("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        return ChildProgram(pid: pid)
    }

    /// Runs `arguments` to its end (see ``start(_:environment:stdin:stdout:stderr:)``). Blocking: call off the
    /// cooperative pool.
    public static func run(
        _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
        stdout: String? = nil, stderr: String? = nil
    ) throws -> Termination {
        try start(arguments, environment: environment, stdin: stdin, stdout: stdout, stderr: stderr).wait()
    }

    /// Waits for the child to end and reaps it (`.exit(-1)` when it cannot be waited for). Blocking: call off the
    /// cooperative pool; once per child.
    public func wait() -> Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            // Never reported as a success: a child that cannot be waited for is a broken test.
            guard errno == EINTR else { return .exit(-1) }
        }
        let signal = status & 0x7f
        return signal == 0 ? .exit((status >> 8) & 0xff) : .signal(signal)
    }

    /// Whether the child has not exited yet (a zombie not yet reaped has).
    public var isRunning: Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[close...].dropFirst().trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Sends `signal` to the child.
    public func send(_ signal: Int32) { kill(pid, signal) }
}
