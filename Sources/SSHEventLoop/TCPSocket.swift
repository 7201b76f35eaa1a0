import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

/// Non-blocking TCP connect, split so an event loop can wait for the outcome.
package enum TCPSocket {
    /// Opens a non-blocking socket and starts connecting it to `address`.
    /// - Returns: the fd, and whether the connection already completed.
    package static func startConnect(to address: SocketAddress) throws(SSHError) -> (fd: Int32, connected: Bool) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw error(errno: errno, address: address) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
        }
        if rc == 0 { return (fd, true) }
        let code = errno
        if code == EINPROGRESS { return (fd, false) }
        close(fd)
        throw error(errno: code, address: address)
    }

    /// After writability: `nil` when connected, `EINPROGRESS` when still pending, else the failure's errno.
    package static func connectOutcome(fd: Int32) -> Int32? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { return errno }
        if code != 0 { return code }
        // SO_ERROR is 0 both when connected and when still pending; getpeername tells them apart.
        var peer = sockaddr_storage()
        var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &peerLength) }
        }
        if rc == 0 { return nil }
        return errno == ENOTCONN ? EINPROGRESS : errno
    }

    /// Maps a connect errno to an ``SSHError``.
    package static func error(errno code: Int32, address: SocketAddress) -> SSHError {
        let text = String(cString: strerror(code))
        let kind: SSHError.Code
        switch code {
        case ECONNREFUSED: kind = .connectionRefused
        case ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT: kind = .hostUnreachable
        case ETIMEDOUT: kind = .timeout
        case EMFILE, ENFILE, ENOBUFS, ENOMEM: kind = .resourceExhausted
        default: kind = .connectionLost
        }
        return SSHError(
            kind, message: "TCP connect to \(address) failed: \(text)", nativeCode: code, nativeMessage: text)
    }
}
