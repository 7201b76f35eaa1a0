import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A connection's socket and its registration with the loop (loop thread only).
package final class ConnectionSocket {
    private let loop: EventLoop
    /// The socket, or -1.
    package private(set) var fd: Int32 = -1
    private var registration: RegistrationID?
    /// The ProxyCommand or tunnel behind the socket, told when the socket is let go.
    package var transport: (any PreconnectedTransport)?

    /// Creates an empty slot on `loop`.
    package init(loop: EventLoop) { self.loop = loop }

    /// Takes ownership of a connecting or connected socket and watches it for `handler`.
    package func adopt(fd: Int32, handler: any IOHandler) throws(SSHError) {
        self.fd = fd
        registration = try loop.register(fd: fd, handler: handler)
    }

    /// Stops watching and closes the socket (a failed address, or the end of the connection).
    package func abandon() {
        if let registration { loop.deregister(fd: fd, registration) }
        registration = nil
        if fd >= 0 { close(fd) }
        fd = -1
        transport?.released(on: loop)
    }

    /// Stops watching a socket that someone else already closed (the number may belong to a new socket by now, so
    /// it must not be closed again).
    package func forget() {
        if let registration { loop.deregister(fd: fd, registration) }
        registration = nil
        fd = -1
        transport?.released(on: loop)
    }

    /// Shuts both directions down, so the native library's pending waits fail at once instead of hanging.
    package func shutDown() {
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Acknowledges what was read at once instead of after the delayed-ACK timer (Linux's `TCP_QUICKACK`, which does
    /// not stay set). A jump connection calls it after each read: the jump's sshd forwards a tunnel's data with
    /// Nagle's algorithm on, so its next small packet waits for this ACK, up to 40 ms each time when the tunnel
    /// has nothing to send back. Ignored on a socket that is not TCP (a ProxyCommand's).
    package func acknowledgeNow() {
        guard fd >= 0 else { return }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), Int32(TCP_QUICKACK), &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Puts the socket back in non-blocking mode if a library switched it to blocking.
    package func ensureNonBlocking() {
        guard fd >= 0 else { return }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }
}

/// Non-blocking TCP connect to each resolved address in turn, stepped by a connect operation.
package struct TCPDialer {
    /// Where the dial stands after a step.
    package enum Outcome {
        case connected
        case wouldBlock
        case failed(SSHError)
    }

    private let addresses: [SocketAddress]
    private let host: String
    private let port: Int
    private var index = 0
    private var started = false
    private var lastError: SSHError?

    /// Dials `addresses` (resolved from `host`:`port`) in order.
    package init(addresses: [SocketAddress], host: String, port: Int) {
        self.addresses = addresses
        self.host = host
        self.port = port
    }

    /// Starts or checks the current attempt, moving to the next address when one fails.
    package mutating func step(_ socket: ConnectionSocket, handler: any IOHandler) -> Outcome {
        while index < addresses.count {
            do throws(SSHError) {
                if !started {
                    let (fd, connected) = try TCPSocket.startConnect(to: addresses[index])
                    try socket.adopt(fd: fd, handler: handler)
                    started = true
                    return connected ? .connected : .wouldBlock
                }
                guard let code = TCPSocket.connectOutcome(fd: socket.fd) else { return .connected }
                if code == EINPROGRESS { return .wouldBlock }
                throw TCPSocket.error(errno: code, address: addresses[index])
            } catch {
                lastError = error.on(host: host, port: port)
                socket.abandon()
                index += 1
                started = false
            }
        }
        return .failed(
            lastError ?? SSHError(.connectionRefused, host: host, port: port, message: "no address to connect to"))
    }
}
