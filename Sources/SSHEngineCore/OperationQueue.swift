import SSHBackend
import SSHEventLoop

/// A session-level step sequence (connect, authenticate, open a channel). The C libraries keep the state of
/// these in the session, not the channel, so they run strictly one at a time, in order, each retried with the
/// same arguments until it stops asking to be called again.
package protocol EngineOperation<Connection>: AnyObject {
    /// The connection type the operation steps.
    associatedtype Connection: AnyObject
    /// How long the operation may take once it reaches the head of the queue.
    var timeout: Duration? { get }
    /// Describes the operation in a timeout error, e.g. `"opening a channel"`.
    var activity: String { get }
    /// Advances as far as possible. Returns `true` when finished (its continuation resumed), `false` when
    /// the library would block.
    func step(_ connection: Connection) -> Bool
    /// Fails the operation with `error` (the connection broke, timed out, closed or the task was cancelled).
    func fail(_ error: any Error)
    /// Whether nothing the operation sent so far can have started anything on the server (a channel being opened,
    /// before its exec, shell or subsystem request), so that doing it again on a new connection does nothing twice.
    var isUnstarted: Bool { get }
}

extension EngineOperation {
    /// Operations are taken to have started something unless they say otherwise.
    package var isUnstarted: Bool { false }
}

/// The FIFO of a connection's session-level operations, with the head's deadline (loop thread only).
package final class OperationQueue<Connection: AnyObject> {
    private let loop: EventLoop
    private let host: String
    private let port: Int
    private var operations: [any EngineOperation<Connection>] = []
    private var deadline: TimerID?
    /// Called with a timeout error when the head operation (or one of its phases) overruns.
    private let onTimeout: (SSHError) -> Void

    /// Creates an empty queue; `onTimeout` fails the connection.
    package init(loop: EventLoop, host: String, port: Int, onTimeout: @escaping (SSHError) -> Void) {
        self.loop = loop
        self.host = host
        self.port = port
        self.onTimeout = onTimeout
    }

    /// Appends `operation`; the head's deadline starts when it becomes the head.
    package func append(_ operation: any EngineOperation<Connection>) {
        operations.append(operation)
        if operations.count == 1 { armDeadline() }
    }

    /// Restarts the head operation's deadline (an operation with phases calls this between them).
    /// `nil` means no deadline.
    package func restartDeadline(_ timeout: Duration?, activity: String) {
        self.activity = activity
        if let deadline { loop.cancelTimer(deadline) }
        deadline = nil
        guard let timeout else { return }
        deadline = loop.scheduleTimer(after: timeout, name: "operation deadline") { [weak self] in
            guard let self else { return }
            self.deadline = nil
            self.onTimeout(
                SSHError(
                    .timeout, host: self.host, port: self.port,
                    message: "\(activity) took longer than \(timeout)"))
        }
    }

    private func armDeadline() {
        if let deadline { loop.cancelTimer(deadline) }
        deadline = nil
        activity = nil
        if let head = operations.first { restartDeadline(head.timeout, activity: head.activity) }
    }

    /// Steps the head operation (and the ones after it) until one would block or `stopped()` turns true.
    /// Returns whether any finished.
    package func step(_ connection: Connection, stopped: () -> Bool) -> Bool {
        var finished = false
        while let head = operations.first {
            guard head.step(connection) else { break }
            if stopped() { return true }
            operations.removeFirst()
            armDeadline()
            finished = true
        }
        return finished
    }

    /// What the head operation (or its current phase) is doing, for a watchdog report.
    package private(set) var activity: String?

    /// Empties the queue and stops the deadline, returning what was pending (to be failed by the caller).
    package func removeAll() -> [any EngineOperation<Connection>] {
        if let deadline { loop.cancelTimer(deadline) }
        deadline = nil
        let pending = operations
        operations.removeAll()
        return pending
    }
}
