/// Attributes of a remote file, as SFTP reports them.
public struct SSHFileAttributes: Sendable, Hashable {
    /// Size in bytes.
    public var size: UInt64?
    /// Permission bits and file type (`st_mode`).
    public var mode: UInt32?
    /// Modification time, seconds since the epoch.
    public var modificationTime: UInt64?

    /// Whether the attributes describe a directory.
    public var isDirectory: Bool { (mode ?? 0) & 0o170000 == 0o040000 }
    /// Whether the attributes describe a symbolic link (only attributes read without following links can).
    public var isSymbolicLink: Bool { (mode ?? 0) & 0o170000 == 0o120000 }
    /// Whether the attributes describe a regular file (or give no file type).
    public var isRegularFile: Bool { mode == nil || (mode ?? 0) & 0o170000 == 0o100000 }

    /// Creates attributes.
    public init(size: UInt64? = nil, mode: UInt32? = nil, modificationTime: UInt64? = nil) {
        self.size = size
        self.mode = mode
        self.modificationTime = modificationTime
    }
}

/// Progress of one transfer: bytes done out of the total (when known).
public struct SSHTransferProgress: Sendable, Hashable {
    /// Bytes transferred so far.
    public var bytesDone: UInt64
    /// Total bytes, when known.
    public var bytesTotal: UInt64?

    /// Creates a progress value.
    public init(bytesDone: UInt64, bytesTotal: UInt64?) {
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }
}

/// An SFTP session on one connection. Paths are remote paths; local files are named by local paths.
///
/// For every copy, SFTP and SCP alike, a destination that is an existing directory receives the source inside it,
/// under the source's own name (as `scp`, `sftp put` and asyncssh do); any other destination is the copy's name.
///
/// Remote paths read `~` as OpenSSH's `scp` does: `~` and `~/…` are the login's home directory (where relative
/// paths start too), `~user` and `~user/…` that account's home, expanded by the server (over SFTP through OpenSSH's
/// `expand-path@openssh.com`; without it, `unsupported`). An unknown `~user` fails with `noSuchFile`.
public protocol SSHSFTPClient: Sendable {
    /// Uploads `localPath` to `remotePath` (or inside it, when a directory), replacing an existing file, keeping
    /// the mode bits.
    func upload(
        from localPath: String, to remotePath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Downloads `remotePath` to `localPath` (or inside it, when a directory), written under a temporary name and
    /// renamed when complete.
    func download(
        from remotePath: String, to localPath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Uploads the local directory tree `localPath` as `remotePath` (created, with missing parents; or inside it, when
    /// it is an existing directory), keeping mode bits.
    func uploadDirectory(
        from localPath: String, to remotePath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Downloads the remote directory tree `remotePath` as `localPath` (created; or inside it, when it is an existing
    /// directory), keeping mode bits.
    func downloadDirectory(
        from remotePath: String, to localPath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Returns the attributes of `remotePath`, or `nil` if it does not exist.
    func attributes(of remotePath: String) async throws -> SSHFileAttributes?
    /// Creates a remote directory.
    func makeDirectory(_ remotePath: String, mode: UInt32) async throws
    /// Lists the names in a remote directory (without `.` and `..`).
    func listDirectory(_ remotePath: String) async throws -> [String]
    /// Ends the SFTP session. Idempotent.
    func close() async
}

/// SCP transfers on one connection. Destinations follow the rule of ``SSHSFTPClient``: an existing directory
/// receives the source inside it, under the source's own name.
public protocol SSHSCPClient: Sendable {
    /// Sends one local file to `remotePath` (or inside it, when a directory) with `mode` (`nil`: the local file's
    /// permission bits).
    func send(
        from localPath: String, to remotePath: String, mode: UInt32?,
        progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Receives one remote file into `localPath` (or inside it, when a directory), written under a temporary name
    /// and renamed when complete.
    func receive(
        from remotePath: String, to localPath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Sends the local directory tree `localPath` to `remotePath` (`scp -r` semantics: created if missing, else
    /// placed inside it under its own name).
    func sendDirectory(
        from localPath: String, to remotePath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// Receives the remote directory tree `remotePath` as `localPath` (or inside it, when it is an existing
    /// directory). Names the server sends below the top must be plain single components, else `protocolError`.
    func receiveDirectory(
        from remotePath: String, to localPath: String, progress: (@Sendable (SSHTransferProgress) -> Void)?
    ) async throws
    /// What sending `localPath` to `remotePath` would replace, if anything exists there: `remotePath` itself, or
    /// the source's name inside it when it is a directory (for the no-overwrite default of uploads).
    func existingTarget(_ remotePath: String, sending localPath: String) async throws -> String?
}
