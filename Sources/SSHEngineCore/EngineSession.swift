import SSHBackend
import SSHEventLoop
import Synchronization

/// The public face of either engine's authenticated session: every call hops onto the loop that owns the
/// connection.
package final class EngineSession<Native: NativeConnection>: SSHSession {
    package let options: SSHConnectionOptions
    private let connection: LoopBound<ConnectionDriver<Native>>
    package let authenticationBanner: String?
    private let published: PublishedSessionState

    /// Wraps an authenticated connection.
    init(
        options: SSHConnectionOptions, connection: LoopBound<ConnectionDriver<Native>>, banner: String? = nil,
        state: PublishedSessionState
    ) {
        self.options = options
        self.connection = connection
        self.authenticationBanner = banner
        self.published = state
    }

    package var state: SSHSessionState { published.value }

    deinit {
        connection.execute { $0.close() }
    }

    package func openChannel(_ request: SSHChannelRequest) async throws -> any SSHChannel {
        let opened: (LoopBound<ChannelDriver<Native>>, ChannelCore.Outlets, SSHRefusedRequests) =
            try await connection.withContinuation { connection, continuation in
                connection.openChannel(request) { result in
                    continuation.resume(with: result.map { ($0.bound, $0.core.outlets, $0.refusedRequests) })
                }
            }
        return EngineChannel(opened.0, outlets: opened.1, refused: opened.2, session: self)
    }

    /// Opens a channel for `request` (a `direct-tcpip` tunnel) and joins it to the socket `fd` inside the loop
    /// (a ``SocketSplice`` with `cause` and `ended`); the channel lives until either side ends, and the socket is
    /// closed then. When the open fails, `fd` is left to the caller.
    package func openSplicedChannel(
        _ request: SSHChannelRequest, fd: Int32, cause: TunnelCause, ended: @escaping @Sendable () async -> Void
    ) async throws {
        try await connection.withContinuation { connection, continuation in
            connection.openChannel(request) { result in
                continuation.resume(
                    with: result.map { $0.splice(to: SocketSplice(fd: fd, cause: cause, ended: ended)) })
            }
        }
    }

    package func close() async {
        _ = try? await connection.withContinuation { (connection, continuation: CheckedContinuation<Void, any Error>) in
            connection.close()
            continuation.resume()
        }
    }
}

/// A connection's state, written on its loop and read from any thread.
package final class PublishedSessionState: Sendable {
    private let state = Mutex<SSHSessionState>(.open)

    package init() {}

    /// The state now.
    package var value: SSHSessionState { state.withLock { $0 } }

    /// Records the end of the connection (the first end wins).
    package func set(_ new: SSHSessionState) {
        state.withLock { state in
            if case .open = state { state = new }
        }
    }
}
