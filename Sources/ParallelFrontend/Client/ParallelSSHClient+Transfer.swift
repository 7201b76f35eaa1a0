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
    public let error: (any Error)?

    public var description: String {
        "\(alias ?? host): \(localPath) <-> \(remotePath)" + (error.map { ": \($0)" } ?? ": done")
    }
}

extension ParallelSSHClient {
    /// Uploads `localPath` to `remotePath` on every host with SFTP (see ``SSHClient/copyFile(_:to:recurse:progress:)``).
    /// - Parameters:
    ///   - localPath: the file (or, with `recurse`, the directory) to send.
    ///   - remotePath: where it goes on each host (an existing directory receives it under its own name).
    ///   - recurse: copy a directory tree.
    ///   - copyArgs: per-host arguments for `%s` placeholders in both paths, one list per host (each path takes
    ///     them from the first; unused ones are fine).
    ///   - stopOnErrors: `true` throws the first host's error (by host order) once every host was tried.
    ///   - progress: called with each host's bytes done and total.
    /// - Returns: every host's transfer, failed ones carrying their error.
    @discardableResult
    public func copyFile(_ localPath: String, to remotePath: String, recurse: Bool = false, copyArgs: [[String]]? = nil,
                         stopOnErrors: Bool = true, progress: TransferProgressHandler? = nil) async throws -> [HostTransfer] {
        try await transfer(.sftpUpload, pathPairs(localPath, remotePath, copyArgs: copyArgs, localSuffix: nil),
                           recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Uploads with SFTP the paths `paths(host, index)` gives for each host (the closure form of `copyArgs`).
    @discardableResult
    public func copyFile(recurse: Bool = false, stopOnErrors: Bool = true, progress: TransferProgressHandler? = nil,
                         _ paths: (_ host: String, _ index: Int) -> (local: String, remote: String)) async throws -> [HostTransfer] {
        try await transfer(.sftpUpload, hostPaths(paths), recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Downloads `remotePath` from every host with SFTP, into one local file per host: `localPath` plus
    /// `suffixSeparator` plus the host's alias (or name; plus its index when the host is listed twice without
    /// aliases), so hosts never overwrite each other. With `copyArgs` the paths are filled per host instead.
    @discardableResult
    public func copyRemoteFile(_ remotePath: String, to localPath: String, recurse: Bool = false,
                               suffixSeparator: String = "_", copyArgs: [[String]]? = nil, stopOnErrors: Bool = true,
                               progress: TransferProgressHandler? = nil) async throws -> [HostTransfer] {
        try await transfer(.sftpDownload, pathPairs(localPath, remotePath, copyArgs: copyArgs, localSuffix: suffixSeparator),
                           recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Downloads with SFTP the paths `paths(host, index)` gives for each host (the closure form of `copyArgs`;
    /// giving every host its own local path is then up to the closure).
    @discardableResult
    public func copyRemoteFile(recurse: Bool = false, stopOnErrors: Bool = true, progress: TransferProgressHandler? = nil,
                               _ paths: (_ host: String, _ index: Int) -> (local: String, remote: String)) async throws -> [HostTransfer] {
        try await transfer(.sftpDownload, hostPaths(paths), recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Sends `localPath` to `remotePath` on every host with SCP (see ``SSHClient/scpSend(_:to:recurse:overwrite:progress:)``).
    @discardableResult
    public func scpSend(_ localPath: String, to remotePath: String, recurse: Bool = false, overwrite: Bool = false,
                        copyArgs: [[String]]? = nil, stopOnErrors: Bool = true,
                        progress: TransferProgressHandler? = nil) async throws -> [HostTransfer] {
        try await transfer(.scpSend(overwrite: overwrite), pathPairs(localPath, remotePath, copyArgs: copyArgs, localSuffix: nil),
                           recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Sends with SCP the paths `paths(host, index)` gives for each host (the closure form of `copyArgs`).
    @discardableResult
    public func scpSend(recurse: Bool = false, overwrite: Bool = false, stopOnErrors: Bool = true,
                        progress: TransferProgressHandler? = nil,
                        _ paths: (_ host: String, _ index: Int) -> (local: String, remote: String)) async throws -> [HostTransfer] {
        try await transfer(.scpSend(overwrite: overwrite), hostPaths(paths), recurse: recurse, stopOnErrors: stopOnErrors,
                           progress: progress)
    }

    /// Receives `remotePath` from every host with SCP, one local file per host named as in
    /// ``copyRemoteFile(_:to:recurse:suffixSeparator:copyArgs:stopOnErrors:progress:)``.
    @discardableResult
    public func scpRecv(_ remotePath: String, to localPath: String, recurse: Bool = false, suffixSeparator: String = "_",
                        copyArgs: [[String]]? = nil, stopOnErrors: Bool = true,
                        progress: TransferProgressHandler? = nil) async throws -> [HostTransfer] {
        try await transfer(.scpRecv, pathPairs(localPath, remotePath, copyArgs: copyArgs, localSuffix: suffixSeparator),
                           recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// Receives with SCP the paths `paths(host, index)` gives for each host (the closure form of `copyArgs`).
    @discardableResult
    public func scpRecv(recurse: Bool = false, stopOnErrors: Bool = true, progress: TransferProgressHandler? = nil,
                        _ paths: (_ host: String, _ index: Int) -> (local: String, remote: String)) async throws -> [HostTransfer] {
        try await transfer(.scpRecv, hostPaths(paths), recurse: recurse, stopOnErrors: stopOnErrors, progress: progress)
    }

    /// The (local, remote) paths of every host, from a closure form's closure.
    private func hostPaths(_ paths: (String, Int) -> (local: String, remote: String)) -> [(local: String, remote: String)] {
        hosts.enumerated().map { index, host in paths(host, index) }
    }

    /// The (local, remote) paths of every host: filled from `copyArgs`, else the same paths with the local one
    /// suffixed per host when `localSuffix` is given (downloads).
    private func pathPairs(_ local: String, _ remote: String, copyArgs: [[String]]?,
                           localSuffix: String?) throws(SSHError) -> [(local: String, remote: String)] {
        if let copyArgs {
            guard copyArgs.count >= hosts.count else {
                throw SSHError(.invalidArgument, host: "", port: 0,
                               message: "copyArgs has \(copyArgs.count) entries for \(hosts.count) hosts")
            }
            return try hosts.enumerated().map { (index, host) throws(SSHError) in
                (try CommandTemplate.fill(local, with: copyArgs[index], host: host, allowUnused: true),
                 try CommandTemplate.fill(remote, with: copyArgs[index], host: host, allowUnused: true))
            }
        }
        guard let localSuffix else { return hosts.map { _ in (local, remote) } }
        let names = clients.map { HostFileName.component($0.config.alias ?? $0.host) }
        let uses = Dictionary(names.map { ($0, 1) }, uniquingKeysWith: +)
        return names.enumerated().map { index, name in
            (local + localSuffix + name + (uses[name] == 1 ? "" : "\(localSuffix)\(index)"), remote)
        }
    }

    private func transfer(_ operation: CopyOperation, _ paths: [(local: String, remote: String)], recurse: Bool,
                          stopOnErrors: Bool, progress: TransferProgressHandler?) async throws -> [HostTransfer] {
        let results = await forEachHost { client in
            try await operation.run(on: client, local: paths[client.index].local, remote: paths[client.index].remote,
                                    recurse: recurse, progress: progress)
        }
        let transfers = results.enumerated().map { index, result in
            var failure: (any Error)?
            if case .failure(let error) = result { failure = error }
            return HostTransfer(host: clients[index].host, alias: clients[index].config.alias, index: index,
                                localPath: paths[index].local, remotePath: paths[index].remote, error: failure)
        }
        if stopOnErrors, let failed = transfers.first(where: { $0.error != nil }), let error = failed.error { throw error }
        return transfers
    }
}

/// The four copy operations, as the per-host step of a parallel copy.
private enum CopyOperation: Sendable {
    case sftpUpload, sftpDownload, scpSend(overwrite: Bool), scpRecv

    func run(on client: SSHClient, local: String, remote: String, recurse: Bool,
             progress: TransferProgressHandler?) async throws {
        switch self {
        case .sftpUpload: try await client.copyFile(local, to: remote, recurse: recurse, progress: progress)
        case .sftpDownload: try await client.copyRemoteFile(remote, to: local, recurse: recurse, progress: progress)
        case .scpSend(let overwrite):
            try await client.scpSend(local, to: remote, recurse: recurse, overwrite: overwrite, progress: progress)
        case .scpRecv: try await client.scpRecv(remote, to: local, recurse: recurse, progress: progress)
        }
    }
}
