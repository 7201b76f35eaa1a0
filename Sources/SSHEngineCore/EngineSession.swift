import SSHBackend
import SSHEventLoop
import SSHFileTransfer

/// An engine's loop-confined connection, as the shared public ``EngineSession`` drives it.
package protocol EngineConnection: AnyObject, SendableMetatype {
    /// The engine's channel state type.
    associatedtype ChannelState: EngineChannelState
    /// The loop that owns the native session.
    var loop: EventLoop { get }
    /// Opens a channel for `request` (queued behind other session-level operations).
    func openChannel(_ request: SSHChannelRequest, completion: @escaping (Result<ChannelState, any Error>) -> Void)
    /// Closes the connection at the caller's request.
    func close()
    /// Fails everything pending with `error` and tears the connection down.
    func fail(_ error: any Error)
}

/// The public face of either engine's authenticated session: every call hops onto the owning loop.
package final class EngineSession<Connection: EngineConnection>: SSHSession {
    package let options: SSHConnectionOptions
    private let connection: LoopBound<Connection>
    private let engineName: String

    /// Wraps an authenticated connection.
    package init(options: SSHConnectionOptions, connection: LoopBound<Connection>, engineName: String) {
        self.options = options
        self.connection = connection
        self.engineName = engineName
    }

    deinit {
        connection.execute { $0.close() }
    }

    package func openChannel(_ request: SSHChannelRequest) async throws -> any SSHChannel {
        let opened: (LoopBound<Connection.ChannelState>, ByteStreamBuffer, ByteStreamBuffer) =
            try await connection.withContinuation { connection, continuation in
                connection.openChannel(request) { result in
                    continuation.resume(with: result.map { state in
                        (LoopBound(state, loop: connection.loop), state.core.stdout, state.core.stderr)
                    })
                }
            }
        return EngineChannel(state: opened.0, stdout: opened.1, stderr: opened.2, session: self)
    }

    /// SFTP driven over a `sftp` subsystem channel (the same non-blocking implementation on every engine).
    package func openSFTP() async throws -> any SSHSFTPClient {
        try await SFTPSession.start(on: self)
    }

    /// SCP over exec channels running the remote `scp -t` / `scp -f`.
    package func scp() async throws -> any SSHSCPClient {
        SCPSession(session: self)
    }

    package func close() async {
        _ = try? await connection.withContinuation { (connection, continuation: CheckedContinuation<Void, any Error>) in
            connection.close()
            continuation.resume()
        }
    }
}
