import SSHBackend
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A resolved socket address.
package struct SocketAddress: Sendable, CustomStringConvertible {
    package var storage: sockaddr_storage
    package var length: socklen_t

    /// `AF_INET` or `AF_INET6`.
    package var family: Int32 { Int32(storage.ss_family) }

    /// The numeric address and port, e.g. `127.0.0.1:22` or `[::1]:22`.
    package var description: String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        var copy = storage
        let rc = withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo(
                    $0, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                    NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return "<address>" }
        let h = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let s = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return family == AF_INET6 ? "[\(h)]:\(s)" : "\(h):\(s)"
    }
}

/// Turns host names into addresses without blocking an event loop: numeric addresses are parsed inline, names
/// are looked up on the ``BlockingPool/names`` pool under a deadline.
package enum AddressResolver {
    /// Resolves `host`.
    /// - Throws: ``SSHError/Code/unknownHost`` when the name does not resolve, ``SSHError/Code/timeout`` when
    ///   the lookup outlasts `timeout` (`nil`: no deadline of ours).
    package static func resolve(
        host: String, port: Int, family: SSHAddressFamily, timeout: Duration?, loop: EventLoop
    ) async throws -> [SocketAddress] {
        if let numeric = try? lookup(host: host, port: port, family: family, numericOnly: true) { return numeric }
        return try await withCheckedThrowingContinuation { continuation in
            let once = OnceContinuation(continuation)
            // The deadline's timer, armed on the loop and cancelled there (a later task, FIFO) once the lookup
            // answered first.
            let timer = TimerSlot()
            if let timeout {
                loop.execute {
                    timer.id.withLock {
                        $0 = loop.scheduleTimer(after: timeout, name: "name lookup deadline") {
                            timer.id.withLock { $0 = nil }
                            once.resume(
                                with: .failure(
                                    SSHError(
                                        .timeout, host: host, port: port,
                                        message: "resolving \(host) took longer than the connect timeout (\(timeout))"))
                            )
                        }
                    }
                }
            }
            BlockingPool.names.submit {
                once.resume(with: Result { try lookup(host: host, port: port, family: family, numericOnly: false) })
                guard timeout != nil else { return }
                loop.execute {
                    if let id = timer.id.withLock({ $0.take() }) { loop.cancelTimer(id) }
                }
            }
        }
    }

    /// A timer's id, set and taken on the loop.
    private final class TimerSlot: Sendable {
        let id = Mutex<TimerID?>(nil)
    }

    private static func lookup(host: String, port: Int, family: SSHAddressFamily, numericOnly: Bool)
        throws(SSHError) -> [SocketAddress]
    {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        switch family {
        case .any: hints.ai_family = AF_UNSPEC
        case .ipv4: hints.ai_family = AF_INET
        case .ipv6: hints.ai_family = AF_INET6
        }
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : AI_ADDRCONFIG)
        var result: UnsafeMutablePointer<addrinfo>?
        if !numericOnly { LoopWatchdog.blockingCall("resolving \(host)") }
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            let reason = String(cString: gai_strerror(rc))
            let familyNote = family == .any ? "" : " (\(family == .ipv4 ? "IPv4" : "IPv6") only)"
            throw SSHError(
                .unknownHost, host: host, port: port,
                message: "cannot resolve host name \(host)\(familyNote): \(reason)",
                nativeCode: rc, nativeMessage: reason)
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.copyMemory(
                    from: UnsafeRawBufferPointer(
                        start: info.pointee.ai_addr,
                        count: Int(info.pointee.ai_addrlen)))
            }
            addresses.append(SocketAddress(storage: storage, length: info.pointee.ai_addrlen))
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}
