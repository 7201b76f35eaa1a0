import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Joins a channel to a local socket inside the loop that owns the channel's connection: a jump tunnel (the other
/// end of the socket pair is the inner connection's socket) or a forwarded agent's channel (the socket is the local
/// agent's). The ``ChannelDriver`` calls ``pump(_:scratch:)`` on every pass instead of filling its streams, so
/// bytes go from the library to the socket and back with no task, no stream buffer and no thread in between.
///
/// Backpressure both ways: nothing more is read from the channel while the socket has not taken the last read
/// (the library then stops widening the window, and the server stops sending), and nothing more is read from the
/// socket while the channel's window has not taken the last read. The socket's end (its peer closed) becomes the
/// channel's EOF; the channel's EOF becomes the socket's, once all it sent is written. Loop thread only.
package final class SocketSplice: IOHandler {
    /// Bytes not yet taken by the other side, and how far it took them.
    private struct Pending {
        var bytes: [UInt8] = []
        var offset = 0
        var isEmpty: Bool { offset == bytes.count }
    }

    private let fd: Int32
    private let cause: TunnelCause
    private let ended: (@Sendable () async -> Void)?
    private var loop: EventLoop?
    private var registration: RegistrationID?
    private var wake: () -> Void = {}
    /// Readiness as the loop reported it (edge-triggered): set by an event, cleared when a call would block.
    private var readable = true
    private var writable = true
    private var toSocket = Pending()
    private var toChannel = Pending()
    /// The socket's peer closed its end (read returned 0 or failed).
    private var socketEnded = false
    private var eofSent = false
    private var closed = false

    /// Splices `fd` (a connected stream socket, made non-blocking here); `ended` runs once after the socket is
    /// closed (it gives a jump connection's lease back); a failure of the channel's connection is recorded in
    /// `cause` before the socket closes, so the inner connection can name it.
    package init(fd: Int32, cause: TunnelCause, ended: (@Sendable () async -> Void)? = nil) {
        self.fd = fd
        self.cause = cause
        self.ended = ended
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Starts watching the socket on `loop`; `wake` drives the channel's connection once the socket is ready.
    package func attach(to loop: EventLoop, wake: @escaping () -> Void) {
        self.loop = loop
        self.wake = wake
        registration = try? loop.register(fd: fd, handler: self)
        if registration == nil { socketEnded = true }  // cannot be watched: the tunnel ends at once
    }

    package func handleIO(_ events: IOEvents) {
        // A hang-up or error makes both ways worth trying once more: the call then says what happened (EOF, EPIPE).
        if !events.isDisjoint(with: [.readable, .hangup, .error]) { readable = true }
        if !events.isDisjoint(with: [.writable, .hangup, .error]) { writable = true }
        wake()
    }

    package var loopActivity: String { "a tunnel's socket (fd \(fd))" }

    /// Whether everything read from the channel was written to the socket.
    package var isDrained: Bool { toSocket.isEmpty }

    /// Whether the socket's peer went away while the channel's data still had to reach it (the channel should close).
    package private(set) var peerGone = false

    /// Moves bytes both ways as far as the channel's window and the socket take them. Returns whether anything
    /// moved; throws the channel's read or write failure.
    package func pump(_ channel: some NativeChannel, scratch: UnsafeMutableRawBufferPointer) throws(SSHError) -> Bool {
        var progress = false
        // Channel to socket.
        while !peerGone {
            if toSocket.isEmpty {
                guard channel.hasBufferedInput(.stdout) else { break }
                let bytes = try channel.read(.stdout, scratch: scratch)
                if bytes.isEmpty { break }
                toSocket = Pending(bytes: bytes)
                progress = true
            }
            guard writable else { break }
            let offset = toSocket.offset
            // send, not write: a peer that closed its end must not raise SIGPIPE in the whole process.
            let written = toSocket.bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                toSocket.offset += written
                progress = true
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                writable = false
            } else if errno != EINTR {
                peerGone = true
                toSocket = Pending()
                progress = true
            }
        }
        if channel.hasBufferedInput(.stderr) { _ = try channel.read(.stderr, scratch: scratch) }  // none in a tunnel
        // Socket to channel.
        while !eofSent {
            if toChannel.isEmpty {
                if socketEnded {
                    switch channel.sendEOF() {
                    case .wouldBlock: return progress
                    case .failed(let error): throw error
                    case .done: eofSent = true
                    }
                    progress = true
                    break
                }
                guard readable else { break }
                let count = read(fd, scratch.baseAddress, scratch.count)
                if count > 0 {
                    let accepted = try offer(UnsafeRawBufferPointer(rebasing: scratch[..<count]), to: channel).get()
                    progress = true
                    if accepted < count { toChannel = Pending(bytes: Array(scratch[accepted..<count])) }
                    continue
                }
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    readable = false
                } else if count == 0 || errno != EINTR {
                    socketEnded = true
                }
                continue
            }
            let offset = toChannel.offset
            let accepted = try toChannel.bytes.withUnsafeBytes {
                offer(UnsafeRawBufferPointer(rebasing: $0[offset...]), to: channel)
            }.get()
            if accepted == 0 { break }
            toChannel.offset += accepted
            progress = true
        }
        return progress
    }

    /// Offers `bytes` to the channel: how many it took (0 when its window or the transport is full), or its failure.
    private func offer(_ bytes: UnsafeRawBufferPointer, to channel: some NativeChannel) -> Result<Int, SSHError> {
        var taken = 0
        while taken < bytes.count {
            switch channel.write(UnsafeRawBufferPointer(rebasing: bytes[taken...])) {
            case .done(let count) where count > 0: taken += count
            case .done, .wouldBlock: return .success(taken)
            case .failed(let error): return .failure(error)
            }
        }
        return .success(taken)
    }

    /// The channel sent EOF and everything it sent is written: the socket's peer reads its end.
    package func shutdownWrite() {
        if !closed { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    /// The channel is over: records a failure of its connection as the cause, stops watching the socket, shuts it
    /// down and closes it, and runs `ended`.
    ///
    /// The shutdown is what the peer sees at once: a child another thread is spawning at that moment (a
    /// ProxyCommand) holds a copy of every descriptor until it executes its program, and `close` alone would end
    /// the socket only when that copy goes.
    package func end(_ error: SSHError?) {
        if closed { return }
        closed = true
        if let error, error.code == .connectionLost || error.code == .sessionClosed { cause.record(error) }
        if let registration, let loop { loop.deregister(fd: fd, registration) }
        registration = nil
        wake = {}
        _ = shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        if let ended { Task { await ended() } }
    }
}
