import CEventLoopShims

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a short command to completion under a timeout: blocking, for the child-process pool
/// (``BlockingPool/processes``). The child is waited for on a pidfd (`pidfd_open`, Linux 5.3), so the wait is one
/// `poll` with the remaining time, never a loop of checks.
package enum ChildProcess {
    /// How a run ended.
    package enum Outcome: Equatable, Sendable {
        /// It exited with this status (a signal's number + 128 when a signal ended it).
        case exited(Int32)
        /// It ran past the timeout and was killed.
        case timedOut
        /// It could not be started.
        case notStarted
    }

    /// A pidfd of `pid` (it polls readable once the process exits), or -1 where the kernel has none (before 5.3).
    package static func pidfd(of pid: pid_t) -> Int32 { ceventloop_pidfd_open(pid) }

    /// Makes a child spawned with `actions` close every descriptor above stderr before its program runs (add it after
    /// the `dup2`s): the child holds nothing the process opened without close-on-exec, another library's descriptor
    /// or one a concurrent spawn has not closed yet, whose other end would then wait for this child to exit.
    package static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        _ = ceventloop_spawn_close_from(&actions, 3)
    }

    /// Makes a child start with no signal blocked and the usual ones at their default action: the spawning thread
    /// may block signals (the cooperative pool's threads do), and a child inheriting that mask would never see a
    /// SIGTERM (a ProxyCommand told to stop, or munged and slurmd in the tests: they do not reset it, unlike sshd).
    package static func startWithDefaultSignals(_ attributes: inout posix_spawnattr_t) {
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    }

    /// Runs `/bin/sh -c command` with stdin, stdout and stderr on `/dev/null`; kills it (SIGKILL) past `timeout`.
    package static func runShell(_ command: String, timeout: Duration) -> Outcome {
        LoopWatchdog.blockingCall("running a command")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        startWithDefaultSignals(&attributes)
        let arguments = ["/bin/sh", "-c", command]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/sh", &actions, &attributes, &cArguments, environ) == 0 else { return .notStarted }
        let pidfd = Self.pidfd(of: pid)
        var timedOut = false
        if pidfd >= 0 {
            defer { close(pidfd) }
            let deadline = MonotonicClock.now &+ timeout.nanoseconds
            while true {
                let now = MonotonicClock.now
                guard now < deadline else {
                    timedOut = true
                    break
                }
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                let rc = poll(&entry, 1, Int32(clamping: (deadline - now + 999_999) / 1_000_000))
                if rc > 0 { break }  // it exited
                if rc < 0 && errno != EINTR { break }
            }
        }
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut { return .timedOut }
        let signal = status & 0x7f
        return .exited(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
    }
}
