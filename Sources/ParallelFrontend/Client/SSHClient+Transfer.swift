import SSHBackend
import SSHFileTransfer

/// Reports transfer progress: bytes done (and the total, when known) for one file of one host.
public typealias TransferProgressHandler = @Sendable (_ host: String, _ index: Int, SSHTransferProgress) -> Void

/// How a copy moves files: SFTP (the default) or SCP.
public enum FileTransferProtocol: Sendable, Hashable, CustomStringConvertible {
    /// SFTP: an existing remote file is replaced, and a download is written under a temporary name and renamed
    /// when complete.
    case sftp
    /// SCP. An upload refuses to replace an existing remote file or tree unless `overwrite` is set (SCP itself
    /// would silently replace it); a download replaces the local file, as SFTP does.
    case scp(overwrite: Bool = false)

    public var description: String {
        switch self {
        case .sftp: "SFTP"
        case .scp(let overwrite): overwrite ? "SCP (overwrite)" : "SCP"
        }
    }
}

extension SSHClient {
    /// Uploads `localPath` to `remotePath` with `transfer` (SFTP unless said otherwise). Directories need
    /// `recurse` (trees are created with missing parents; over SCP, an existing remote directory receives the
    /// source inside it under its own name); permission bits are kept.
    public func upload(
        _ localPath: String, to remotePath: String, using transfer: FileTransferProtocol = .sftp,
        recurse: Bool = false, progress: TransferProgressHandler? = nil
    ) async throws {
        let report = reporter(progress)
        switch transfer {
        case .sftp:
            try await withSession {
                try await $0.withSFTP { sftp in
                    if recurse {
                        try await sftp.uploadDirectory(from: localPath, to: remotePath, progress: report)
                    } else {
                        try await sftp.upload(from: localPath, to: remotePath, progress: report)
                    }
                }
            }
        case .scp(let overwrite):
            let scp = try await withSession { try await $0.scp() }
            if !overwrite, let existing = try await scp.existingTarget(remotePath, sending: localPath) {
                throw SSHError(
                    .fileTransferFailed, host: host, port: config.portOrDefault,
                    message: "remote \(existing) already exists (use .scp(overwrite: true) to replace it)")
            }
            if recurse {
                try await scp.sendDirectory(from: localPath, to: remotePath, progress: report)
            } else {
                try await scp.send(from: localPath, to: remotePath, mode: nil, progress: report)
            }
        }
    }

    /// Downloads `remotePath` to `localPath` with `transfer` (SFTP unless said otherwise), written under a
    /// temporary name and renamed when complete. Directories need `recurse`.
    public func download(
        _ remotePath: String, to localPath: String, using transfer: FileTransferProtocol = .sftp,
        recurse: Bool = false, progress: TransferProgressHandler? = nil
    ) async throws {
        let report = reporter(progress)
        switch transfer {
        case .sftp:
            try await withSession {
                try await $0.withSFTP { sftp in
                    if recurse {
                        try await sftp.downloadDirectory(from: remotePath, to: localPath, progress: report)
                    } else {
                        try await sftp.download(from: remotePath, to: localPath, progress: report)
                    }
                }
            }
        case .scp:
            let scp = try await withSession { try await $0.scp() }
            if recurse {
                try await scp.receiveDirectory(from: remotePath, to: localPath, progress: report)
            } else {
                try await scp.receive(from: remotePath, to: localPath, progress: report)
            }
        }
    }

    private func reporter(_ progress: TransferProgressHandler?) -> (@Sendable (SSHTransferProgress) -> Void)? {
        guard let progress else { return nil }
        let (host, index) = (self.host, self.index)
        return { progress(host, index, $0) }
    }
}
