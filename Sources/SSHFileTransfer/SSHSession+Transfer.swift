import SSHBackend

extension SSHSession {
    /// Opens an SFTP (version 3) session over a `sftp` subsystem channel of this session. The same non-blocking
    /// implementation runs over every engine's channels (and over any other ``SSHSession``).
    public func openSFTP() async throws -> any SSHSFTPClient {
        try await SFTPSession.start(on: self)
    }

    /// An SCP client that runs the remote `scp -t` / `scp -f` over exec channels of this session.
    public func scp() async throws -> any SSHSCPClient {
        SCPSession(session: self)
    }
}

extension SSHSession {
    /// Runs `body` with an SFTP session and closes the session afterwards, whether `body` returned or threw. The
    /// close is awaited, so nothing that follows races it.
    public func withSFTP<T>(_ body: (any SSHSFTPClient) async throws -> T) async throws -> T {
        let sftp = try await openSFTP()
        do {
            let result = try await body(sftp)
            await sftp.close()
            return result
        } catch {
            await sftp.close()
            throw error
        }
    }
}
