import SSHBackend
import SSHEventLoop
import Synchronization

/// The part of `connect` both engines share: validate, resolve off-loop, then create the connection on a loop
/// and let it connect, with task cancellation failing it wherever it is.
package enum EngineConnector {
    /// Connects and returns the authenticated session.
    /// - Parameters:
    ///   - make: creates the engine's connection (on its loop thread).
    ///   - start: queues the engine's connect operation, which resumes the continuation when authenticated.
    package static func connect<Connection: EngineConnection>(
        _ options: SSHConnectionOptions, engineName: String, group: EventLoopGroup,
        make: @escaping @Sendable (EventLoop) -> Connection,
        start: @escaping @Sendable (Connection, [SocketAddress], CheckedContinuation<Void, any Error>) -> Void
    ) async throws -> EngineSession<Connection> {
        try options.validate()
        let loop = group.next()
        let addresses: [SocketAddress]
        do {
            addresses = try await AddressResolver.resolve(
                host: options.host, port: options.port, family: options.addressFamily,
                timeout: options.connectTimeout, loop: loop)
        } catch let error as SSHError {
            throw error.on(host: options.host, port: options.port)
        }
        let slot = Mutex<(bound: LoopBound<Connection>?, cancelled: Bool)>((nil, false))
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                loop.execute {
                    let connection = make(loop)
                    let bound = LoopBound(connection, loop: loop)
                    let cancelled = slot.withLock { slot in
                        slot.bound = bound
                        return slot.cancelled
                    }
                    if cancelled {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    start(connection, addresses, continuation)
                }
            }
        } onCancel: {
            let bound = slot.withLock { slot in
                slot.cancelled = true
                return slot.bound
            }
            bound?.execute { $0.fail(CancellationError()) }
        }
        guard let bound = slot.withLock({ $0.bound }) else {
            throw SSHError(.sessionClosed, host: options.host, port: options.port, message: "connection vanished")
        }
        return EngineSession(options: options, connection: bound, engineName: engineName)
    }
}
