import SSHBackend

/// One host's part of a parallel file copy.
public struct HostTransfer: Sendable, CustomStringConvertible {
    /// The host as given in the host list.
    public let host: String
    /// The host's alias, if any.
    public let alias: String?
    /// The position in the host list.
    public let index: Int
    /// The local path of this host's copy.
    public let localPath: String
    /// The remote path of this host's copy.
    public let remotePath: String
    /// Why this host's copy failed, or nil.
    public let error: SSHError?

    public var description: String {
        "\(alias ?? host): \(localPath) <-> \(remotePath)" + (error.map { ": \($0)" } ?? ": done")
    }
}

extension ParallelSSHClient {
    /// Uploads `localPath` to `remotePath` on every host (see ``SSHClient/upload(_:to:using:recurse:progress:)``).
    /// - Parameters:
    ///   - localPath: the file (or, with `recurse`, the directory) to send.
    ///   - remotePath: where it goes on each host.
    ///   - transfer: SFTP (the default) or SCP.
    ///   - recurse: copy a directory tree.
    ///   - stopOnErrors: `true` throws the first host's error (by host order) once every host was tried.
    ///   - progress: called with each host's bytes done and total.
    /// - Returns: every host's transfer, failed ones carrying their error.
    @discardableResult
    public func upload(
        _ localPath: String, to remotePath: String, using transfer: FileTransferProtocol = .sftp,
        recurse: Bool = false, stopOnErrors: Bool = true,
        progress: TransferProgressHandler? = nil
    ) async throws -> [HostTransfer] {
        try await copy(
            .upload(transfer), hosts.map { _ in (localPath, remotePath) }, recurse: recurse,
            stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Uploads, for each host, the paths `paths(host, index)` gives (`host` as in the host list, `index` its
    /// position): a file of its own per host, or a destination of its own.
    @discardableResult
    public func upload(
        using transfer: FileTransferProtocol = .sftp, recurse: Bool = false, stopOnErrors: Bool = true,
        progress: TransferProgressHandler? = nil,
        paths: (_ host: String, _ index: Int) -> (local: String, remote: String)
    ) async throws -> [HostTransfer] {
        try await copy(
            .upload(transfer), hostPaths(paths), recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Downloads `remotePath` from every host into one local file (or tree) per host: `localPath` plus
    /// `suffixSeparator` plus the host's alias (or name; plus its index when the host is listed twice without
    /// aliases), so hosts never overwrite each other (parallel-ssh's `copy_remote_file`).
    @discardableResult
    public func download(
        _ remotePath: String, to localPath: String, using transfer: FileTransferProtocol = .sftp,
        recurse: Bool = false, suffixSeparator: String = "_", stopOnErrors: Bool = true,
        progress: TransferProgressHandler? = nil
    ) async throws -> [HostTransfer] {
        try await copy(
            .download(transfer), suffixedPaths(localPath, remotePath, separator: suffixSeparator),
            recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Downloads, for each host, the paths `paths(host, index)` gives (giving every host its own local path is
    /// then up to the closure).
    @discardableResult
    public func download(
        using transfer: FileTransferProtocol = .sftp, recurse: Bool = false, stopOnErrors: Bool = true,
        progress: TransferProgressHandler? = nil,
        paths: (_ host: String, _ index: Int) -> (local: String, remote: String)
    ) async throws -> [HostTransfer] {
        try await copy(
            .download(transfer), hostPaths(paths), recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// The (local, remote) paths of every host, from a closure form's closure.
    private func hostPaths(_ paths: (String, Int) -> (local: String, remote: String)) -> [(
        local: String, remote: String
    )] {
        hosts.enumerated().map { index, host in paths(host, index) }
    }

    /// The (local, remote) paths of a download to one local path: suffixed per host.
    private func suffixedPaths(_ local: String, _ remote: String, separator: String) -> [(
        local: String, remote: String
    )] {
        let names = clients.map { HostFileName.component($0.config.alias ?? $0.host) }
        let uses = Dictionary(names.map { ($0, 1) }, uniquingKeysWith: +)
        return names.enumerated().map { index, name in
            (local + separator + name + (uses[name] == 1 ? "" : "\(separator)\(index)"), remote)
        }
    }

    private func copy(
        _ direction: CopyDirection, _ paths: [(local: String, remote: String)], recurse: Bool,
        stopOnErrors: Bool, progress: TransferProgressHandler?
    ) async throws -> [HostTransfer] {
        let results = await forEachHost { client in
            let (local, remote) = paths[client.index]
            try await client.copy(direction, local: local, remote: remote, recurse: recurse, progress: progress)
        }
        let transfers = results.enumerated().map { index, result in
            var failure: SSHError?
            if case .failure(let error) = result {
                failure = SSHError(error, host: clients[index].host, port: clients[index].config.portOrDefault)
            }
            return HostTransfer(
                host: clients[index].host, alias: clients[index].config.alias, index: index,
                localPath: paths[index].local, remotePath: paths[index].remote, error: failure)
        }
        try Task.checkCancellation()  // a cancelled caller learns it as such, not as hosts failed with .cancelled
        if stopOnErrors, let failed = transfers.first(where: { $0.error != nil }), let error = failed.error {
            throw error
        }
        return transfers
    }
}
