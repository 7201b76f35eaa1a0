import SSHBackend
import SSHFileTransfer

/// Reports transfer progress: bytes done (and the total, when known) for one file of one host.
public typealias TransferProgressHandler = @Sendable (_ host: String, _ index: Int, SSHTransferProgress) -> Void

extension SSHClient {
    /// Uploads `localPath` to `remotePath` with SFTP. Directories need `recurse` (trees are created with missing
    /// parents); an existing remote file is replaced; permission bits are kept.
    public func copyFile(_ localPath: String, to remotePath: String, recurse: Bool = false,
                         progress: TransferProgressHandler? = nil) async throws {
        let report = reporter(progress)
        try await withSession { try await $0.withSFTP { sftp in
            if recurse {
                try await sftp.uploadDirectory(from: localPath, to: remotePath, progress: report)
            } else {
                try await sftp.upload(from: localPath, to: remotePath, progress: report)
            }
        } }
    }

    /// Downloads `remotePath` to `localPath` with SFTP (written under a temporary name, renamed when complete).
    public func copyRemoteFile(_ remotePath: String, to localPath: String, recurse: Bool = false,
                               progress: TransferProgressHandler? = nil) async throws {
        let report = reporter(progress)
        try await withSession { try await $0.withSFTP { sftp in
            if recurse {
                try await sftp.downloadDirectory(from: remotePath, to: localPath, progress: report)
            } else {
                try await sftp.download(from: remotePath, to: localPath, progress: report)
            }
        } }
    }

    /// Sends `localPath` to `remotePath` with SCP, or inside it under its own name when it is a directory.
    /// Directories need `recurse`. Replacing an existing file or tree is an error unless `overwrite` is set (SCP
    /// itself would silently replace it).
    public func scpSend(_ localPath: String, to remotePath: String, recurse: Bool = false, overwrite: Bool = false,
                        progress: TransferProgressHandler? = nil) async throws {
        let scp = try await withSession { try await $0.scp() }
        if !overwrite, let existing = try await scp.existingTarget(remotePath, sending: localPath) {
            throw SSHError(.fileTransferFailed, host: host, port: config.port ?? 22,
                           message: "remote \(existing) already exists (pass overwrite: true to replace it)")
        }
        let report = reporter(progress)
        if recurse {
            try await scp.sendDirectory(from: localPath, to: remotePath, progress: report)
        } else {
            try await scp.send(from: localPath, to: remotePath, mode: nil, progress: report)
        }
    }

    /// Receives `remotePath` into `localPath` with SCP (written under a temporary name, renamed when complete).
    public func scpRecv(_ remotePath: String, to localPath: String, recurse: Bool = false,
                        progress: TransferProgressHandler? = nil) async throws {
        let scp = try await withSession { try await $0.scp() }
        let report = reporter(progress)
        if recurse {
            try await scp.receiveDirectory(from: remotePath, to: localPath, progress: report)
        } else {
            try await scp.receive(from: remotePath, to: localPath, progress: report)
        }
    }

    private func reporter(_ progress: TransferProgressHandler?) -> (@Sendable (SSHTransferProgress) -> Void)? {
        guard let progress else { return nil }
        let (host, index) = (self.host, self.index)
        return { progress(host, index, $0) }
    }
}
