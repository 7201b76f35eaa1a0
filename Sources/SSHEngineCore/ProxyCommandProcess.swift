import SSHBackend
import SSHEventLoop
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A `ProxyCommand` child: `/bin/sh -c 'exec <command>'` with one end of a socket pair as its stdin and stdout,
/// the other end the connection's socket, so the engine speaks SSH through the child as through TCP. When the
/// connection lets go of its socket, the child sees EOF; the loop then waits for its exit on a pidfd (never by
/// blocking or polling) and reaps it, terminating it if it lingers.
package final class ProxyCommandProcess: PreconnectedTransport {
    /// The child's process id.
    package let pid: pid_t
    /// Our end of the socket pair (non-blocking), for the connection to adopt.
    package let fd: Int32
    private let reaped = Mutex(false)

    private init(pid: pid_t, fd: Int32) {
        self.pid = pid
        self.fd = fd
    }

    /// Starts `command` (blocking: call on the blocking pool). Its stderr goes to this process's stderr, as
    /// OpenSSH lets it through.
    /// - Throws: `resourceExhausted` when no socket pair or process can be made.
    package static func spawn(_ command: String, host: String, port: Int) throws(SSHError) -> ProxyCommandProcess {
        LoopWatchdog.blockingCall("starting a ProxyCommand")
        let pair = try socketPair(for: "the ProxyCommand", host: host, port: port)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pair[1], 0)
        posix_spawn_file_actions_adddup2(&actions, pair[1], 1)
        ChildProcess.closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        ChildProcess.startWithDefaultSignals(&attributes)
        let arguments = ["/bin/sh", "-c", "exec " + command]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attributes, &cArguments, environ)
        close(pair[1])
        guard rc == 0 else {
            close(pair[0])
            throw SSHError(
                .resourceExhausted, host: host, port: port,
                message: "cannot start the ProxyCommand: \(String(cString: strerror(rc)))")
        }
        return ProxyCommandProcess(pid: pid, fd: pair[0])
    }

    /// Reaps the child once it exits: the loop watches a pidfd of it (no polling); after 2 s it is sent SIGTERM,
    /// after 4 s SIGKILL. Idempotent.
    package func reap(on loop: EventLoop) {
        let first = reaped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let pid = pid
        loop.execute { ChildReaper.watch(pid, on: loop) }
    }

    /// The connection let go of the socket: the child sees EOF and is reaped.
    package func released(on loop: EventLoop) { reap(on: loop) }

    /// Closes our end without a connection having adopted it (the connect was abandoned), and reaps the child.
    package func discard(on loop: EventLoop) {
        close(fd)
        reap(on: loop)
    }
}

/// A socket that stands for the TCP connection (a ProxyCommand's, or a tunnel through a jump host): the
/// connection adopts ``fd`` instead of dialing.
package protocol PreconnectedTransport: Sendable {
    /// The socket for the connection to adopt (non-blocking).
    var fd: Int32 { get }
    /// The connection let go of the socket (it is closed or forgotten by now).
    func released(on loop: EventLoop)
    /// The connection never adopted the socket: close it and clean up.
    func discard(on loop: EventLoop)
    /// The connection's handshake is over (it is authenticated, or failed).
    func handshakeEnded()
    /// Why the transport broke, when it knows better than the connection that saw its socket close (the jump
    /// connection under a tunnel was lost); `nil` otherwise.
    var lossCause: SSHError? { get }
}

extension PreconnectedTransport {
    package func handshakeEnded() {}
    package var lossCause: SSHError? { nil }
}

/// Our end of a socket pair whose other end a ``TunnelPump`` carries over a jump host, and the lease on the jump
/// connection (its handshake slot is given back when the target's handshake ends).
package struct TunnelEnd: PreconnectedTransport {
    package let fd: Int32
    let lease: JumpLease
    let cause: TunnelCause
    /// The hop (`user@host:port`), and the target the tunnel leads to.
    let hop: String, target: String, port: Int
    /// The pump sees EOF on its end once this one is closed, and winds down.
    package func released(on loop: EventLoop) {}
    package func discard(on loop: EventLoop) { close(fd) }
    package func handshakeEnded() { lease.endHandshake() }
    package var lossCause: SSHError? { cause.error?.throughJumpHost(hop, target: target, port: port) }
}

/// What ended a tunnel from the jump side (its connection's error); set by the pump before it closes its end of
/// the socket pair, so the target knows it when it sees the close.
package final class TunnelCause: Sendable {
    private let recorded = Mutex<SSHError?>(nil)

    /// The recorded cause.
    package var error: SSHError? { recorded.withLock { $0 } }

    /// Records `error` unless a cause is already known.
    package func record(_ error: SSHError) {
        recorded.withLock { if $0 == nil { $0 = error } }
    }
}

/// A connected pair of local stream sockets, close-on-exec, our end (`[0]`) non-blocking; the other end goes to a
/// ProxyCommand child (which wants it blocking) or to a ``TunnelPump``.
/// - Throws: `resourceExhausted` naming `purpose` when the system has none to give.
package func socketPair(for purpose: String, host: String, port: Int) throws(SSHError) -> [Int32] {
    var pair: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
        throw SSHError(
            .resourceExhausted, host: host, port: port,
            message: "no socket pair for \(purpose): \(String(cString: strerror(errno)))")
    }
    _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
    return pair
}

/// Waits on the loop for a child to exit (its pidfd turns readable), reaps it, and sends SIGTERM after 2 s and
/// SIGKILL after 4 s if it lingers. Loop thread only.
private final class ChildReaper: IOHandler {
    private let pid: pid_t
    private let pidfd: Int32
    private let loop: EventLoop
    private var registration: RegistrationID?
    private var timers: [TimerID] = []

    private init(pid: pid_t, pidfd: Int32, loop: EventLoop) {
        self.pid = pid
        self.pidfd = pidfd
        self.loop = loop
    }

    /// Starts watching `pid` (already reaped: nothing to do).
    static func watch(_ pid: pid_t, on loop: EventLoop) {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) != 0 { return }
        let pidfd = ChildProcess.pidfd(of: pid)
        guard pidfd >= 0 else {
            // No pidfd (a kernel before 5.3): signal and reap from timers.
            for (delay, signal) in [(Duration.seconds(2), SIGTERM), (.seconds(4), SIGKILL)] {
                loop.scheduleTimer(after: delay, name: "ProxyCommand stop") {
                    if waitpid(pid, &status, WNOHANG) == 0 { kill(pid, signal) }
                }
            }
            loop.scheduleTimer(after: .seconds(5), name: "ProxyCommand reap") { _ = waitpid(pid, &status, 0) }
            return
        }
        let reaper = ChildReaper(pid: pid, pidfd: pidfd, loop: loop)
        do {
            reaper.registration = try loop.register(fd: pidfd, handler: reaper)
        } catch {
            close(pidfd)
            return
        }
        reaper.timers = [(Duration.seconds(2), SIGTERM), (.seconds(4), SIGKILL)].map { delay, signal in
            loop.scheduleTimer(after: delay, name: "ProxyCommand stop") { kill(pid, signal) }
        }
    }

    func handleIO(_ events: IOEvents) {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) != 0 else { return }
        for timer in timers { loop.cancelTimer(timer) }
        timers = []
        if let registration { loop.deregister(fd: pidfd, registration) }
        registration = nil
        close(pidfd)
    }
}
