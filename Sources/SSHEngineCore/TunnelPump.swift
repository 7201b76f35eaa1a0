import SSHBackend
import SSHEventLoop
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Carries an inner connection over a `direct-tcpip` channel of a jump session: one end of a socket pair is the
/// inner connection's socket, and this pumps the other end to and from the channel, both ways, with
/// backpressure (a chunk is written out before the next is taken) and EOF passed along. When both directions
/// have ended, the channel closes and the jump connection's lease is given back. The socket is watched by the loop; the channel's
/// async calls run in two tasks, which wait for the socket's readiness instead of polling.
package final class TunnelPump: Sendable {
    private let fd: Int32
    private let channel: any SSHChannel
    private let ended: @Sendable () async -> Void
    private let readiness: Readiness
    private let cause: TunnelCause

    /// Starts pumping between `fd` (our end, non-blocking) and `channel`, a tunnel on a jump connection;
    /// `ended` runs once both directions are over (it gives the jump connection's lease back); a failure of the
    /// jump connection is recorded in `cause` before the socket closes.
    package init(
        fd: Int32, channel: any SSHChannel, loop: EventLoop, cause: TunnelCause,
        ended: @escaping @Sendable () async -> Void
    ) {
        self.fd = fd
        self.cause = cause
        self.channel = channel
        self.ended = ended
        readiness = Readiness(fd: fd, loop: loop)
    }

    /// Runs both directions until they end, then closes the socket and the channel.
    package func start() {
        let (fd, channel, ended, readiness, cause) = (self.fd, self.channel, self.ended, self.readiness, self.cause)
        Task(executorPreference: LoopTaskExecutor.shared) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await Self.upstream(fd: fd, channel: channel, readiness: readiness, cause: cause) }
                group.addTask { await Self.downstream(fd: fd, channel: channel, readiness: readiness, cause: cause) }
            }
            await readiness.close()
            await channel.close()
            await ended()
        }
    }

    /// Inner connection to the channel: read what the inner engine wrote, send it; EOF becomes the channel's EOF.
    private static func upstream(fd: Int32, channel: any SSHChannel, readiness: Readiness, cause: TunnelCause) async {
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)  // an SSH packet's worth
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                do {
                    try await channel.write(Array(buffer[..<count]))
                } catch {
                    record(error, in: cause)
                    break
                }
            } else if count == 0 {
                try? await channel.sendEOF()
                return
            } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard await readiness.wait(.readable) else { break }
            } else {
                break
            }
        }
        await channel.close()
    }

    /// Channel to the inner connection: write each chunk out whole before taking the next; the channel's end
    /// becomes the socket's EOF.
    private static func downstream(fd: Int32, channel: any SSHChannel, readiness: Readiness, cause: TunnelCause) async {
        do {
            for try await chunk in channel.stdout {
                var offset = 0
                while offset < chunk.count {
                    // send, not write: a target that closed its end must not raise SIGPIPE in the whole process.
                    let written = chunk[offset...].withUnsafeBytes {
                        send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                    }
                    if written > 0 {
                        offset += written
                    } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                        guard await readiness.wait(.writable) else { return }
                    } else {
                        return
                    }
                }
            }
        } catch {
            record(error, in: cause)
        }
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// Keeps a failure of the jump connection (not of the tunnel alone) as the cause of the tunnel's end.
    private static func record(_ error: any Error, in cause: TunnelCause) {
        guard let error = error as? SSHError, error.code == .connectionLost || error.code == .sessionClosed else {
            return
        }
        cause.record(error)
    }
}

/// The socket's readiness as the loop reports it (edge-triggered), for tasks to wait on.
private final class Readiness: IOHandler, @unchecked Sendable {
    private struct State {
        var registration: RegistrationID?
        var seen: IOEvents = [.readable, .writable]  // check once before the first wait
        var waiters: [(IOEvents, CheckedContinuation<Bool, Never>)] = []
        var closed = false
    }

    private let fd: Int32
    private let loop: EventLoop
    private let state = Mutex(State())

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
        loop.execute { [self] in
            let id = try? loop.register(fd: fd, handler: self)
            state.withLock { $0.registration = id }
        }
    }

    /// Waits until `event` (or a hang-up or error) was reported since the last wait for it; false once closed.
    func wait(_ event: IOEvents) async -> Bool {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool? in
                if state.closed { return false }
                if !state.seen.intersection(event.union([.hangup, .error])).isEmpty {
                    state.seen.subtract(event)
                    return true
                }
                state.waiters.append((event, continuation))
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func handleIO(_ events: IOEvents) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.seen.formUnion(events)
            var resumed: [CheckedContinuation<Bool, Never>] = []
            state.waiters.removeAll { event, continuation in
                guard !state.seen.intersection(event.union([.hangup, .error])).isEmpty else { return false }
                state.seen.subtract(event)
                resumed.append(continuation)
                return true
            }
            return resumed
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Stops watching and closes the socket; waiters get false.
    func close() async {
        let (id, waiters) = state.withLock { state -> (RegistrationID?, [CheckedContinuation<Bool, Never>]) in
            state.closed = true
            defer { state.waiters.removeAll() }
            return (state.registration, state.waiters.map(\.1))
        }
        for waiter in waiters { waiter.resume(returning: false) }
        let (fd, loop) = (self.fd, self.loop)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                if let id { loop.deregister(fd: fd, id) }
                Glibc.close(fd)
                done.resume()
            }
        }
    }
}
