import SSHBackend
import SSHEventLoop

/// An authenticated libssh2 session. Every call hops onto the loop thread that owns the native session.
final class LibSSH2Session: SSHSession {
    let options: SSHConnectionOptions
    private let connection: LoopBound<LibSSH2Connection>

    init(options: SSHConnectionOptions, connection: LoopBound<LibSSH2Connection>) {
        self.options = options
        self.connection = connection
    }

    deinit {
        connection.execute { $0.close() }
    }

    func openChannel(_ request: SSHChannelRequest) async throws -> any SSHChannel {
        let timeout = options.operationTimeout
        let opened: (LoopBound<LibSSH2ChannelState>, ByteStreamBuffer, ByteStreamBuffer) =
            try await connection.withContinuation { connection, continuation in
                connection.enqueue(LibSSH2OpenChannelOperation(request: request, timeout: timeout) { result in
                    continuation.resume(with: result.map { state in
                        (LoopBound(state, loop: connection.loop), state.stdout, state.stderr)
                    })
                })
            }
        return LibSSH2Channel(state: opened.0, stdout: opened.1, stderr: opened.2, session: self)
    }

    func openSFTP() async throws -> any SSHSFTPClient {
        throw SSHError(.unsupported, host: options.host, port: options.port,
                       message: "SFTP is not implemented by the libssh2 engine yet")
    }

    func scp() async throws -> any SSHSCPClient {
        throw SSHError(.unsupported, host: options.host, port: options.port,
                       message: "SCP is not implemented by the libssh2 engine yet")
    }

    func close() async {
        _ = try? await connection.withContinuation { (connection, continuation: CheckedContinuation<Void, any Error>) in
            connection.close()
            continuation.resume()
        }
    }
}
