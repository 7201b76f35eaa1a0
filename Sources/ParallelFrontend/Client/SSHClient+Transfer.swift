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
        try await copy(.upload(transfer), local: localPath, remote: remotePath, recurse: recurse, progress: progress)
    }

    /// Downloads `remotePath` to `localPath` with `transfer` (SFTP unless said otherwise), written under a
    /// temporary name and renamed when complete. Directories need `recurse`.
    public func download(
        _ remotePath: String, to localPath: String, using transfer: FileTransferProtocol = .sftp,
        recurse: Bool = false, progress: TransferProgressHandler? = nil
    ) async throws {
        try await copy(.download(transfer), local: localPath, remote: remotePath, recurse: recurse, progress: progress)
    }

    /// One copy between `local` and `remote`, the way `direction` says: the one place both calls and the parallel
    /// client's copies come to.
    func copy(
        _ direction: CopyDirection, local: String, remote: String, recurse: Bool, progress: TransferProgressHandler?
    ) async throws {
        let report = reporter(progress)
        switch direction {
        case .upload(.sftp), .download(.sftp):
            let upload = if case .upload = direction { true } else { false }
            try await withSession { session in
                try await session.withSFTP { sftp in
                    switch (upload, recurse) {
                    case (true, true): try await sftp.uploadDirectory(from: local, to: remote, progress: report)
                    case (true, false): try await sftp.upload(from: local, to: remote, progress: report)
                    case (false, true): try await sftp.downloadDirectory(from: remote, to: local, progress: report)
                    case (false, false): try await sftp.download(from: remote, to: local, progress: report)
                    }
                }
            }
        case .upload(.scp(let overwrite)):
            let scp = try await withSession { try await $0.scp() }
            if !overwrite, let existing = try await scp.existingTarget(remote, sending: local) {
                throw SSHError(
                    .fileTransferFailed, host: host, port: config.portOrDefault,
                    message: "remote \(existing) already exists (use .scp(overwrite: true) to replace it)")
            }
            if recurse {
                try await scp.sendDirectory(from: local, to: remote, progress: report)
            } else {
                try await scp.send(from: local, to: remote, mode: nil, progress: report)
            }
        case .download(.scp):
            let scp = try await withSession { try await $0.scp() }
            if recurse {
                try await scp.receiveDirectory(from: remote, to: local, progress: report)
            } else {
                try await scp.receive(from: remote, to: local, progress: report)
            }
        }
    }

    private func reporter(_ progress: TransferProgressHandler?) -> (@Sendable (SSHTransferProgress) -> Void)? {
        guard let progress else { return nil }
        let (host, index) = (self.host, self.index)
        return { progress(host, index, $0) }
    }
}

/// Which way a copy goes, and how.
enum CopyDirection: Sendable {
    /// Local to remote.
    case upload(FileTransferProtocol)
    /// Remote to local.
    case download(FileTransferProtocol)
}
