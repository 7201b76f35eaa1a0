import SSHBackend

/// A session-level step sequence (connect, authenticate, open a channel). libssh2 keeps the state of these in
/// the session, not the channel, so they run strictly one at a time, in order, each retried with the same
/// arguments until it stops returning EAGAIN. A second channel open issued while the first is pending would
/// otherwise complete the first and yield the same channel twice.
protocol LibSSH2Operation: AnyObject {
    /// How long the operation may take once it reaches the head of the queue.
    var timeout: Duration { get }
    /// Describes the operation in a timeout error, e.g. `"opening a channel"`.
    var activity: String { get }
    /// Advances as far as possible. Returns `true` when finished (its continuation resumed), `false` when
    /// libssh2 would block.
    func step(_ connection: LibSSH2Connection) -> Bool
    /// Fails the operation with `error` (the connection broke, timed out, closed or the task was cancelled).
    func fail(_ error: any Error)
}
