import SSHBackend
import SSHEventLoop
import SSHFileTransfer

/// The public face of either engine's authenticated session: every call hops onto the loop that owns the
/// connection.
package final class EngineSession<Native: NativeConnection>: SSHSession {
    package let options: SSHConnectionOptions
    private let connection: LoopBound<ConnectionDriver<Native>>

    /// Wraps an authenticated connection.
    init(options: SSHConnectionOptions, connection: LoopBound<ConnectionDriver<Native>>) {
        self.options = options
        self.connection = connection
    }

    deinit {
        connection.execute { $0.close() }
    }

    package func openChannel(_ request: SSHChannelRequest) async throws -> any SSHChannel {
        let opened: (LoopBound<ChannelDriver<Native>>, ByteStreamBuffer, ByteStreamBuffer) =
            try await connection.withContinuation { connection, continuation in
                connection.openChannel(request) { result in
                    continuation.resume(with: result.map { ($0.bound, $0.core.stdout, $0.core.stderr) })
                }
            }
        return EngineChannel(opened.0, stdout: opened.1, stderr: opened.2, session: self)
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
