import SSHBackend
import SSHEventLoop

/// An engine's channel state, as a connection pumps and ends it.
package protocol PumpedChannel: AnyObject {
    /// Advances writes, reads, EOF and close as far as the library allows. Returns whether anything progressed.
    func pump() -> Bool
    /// Whether the channel is fully closed and freed (the connection then forgets it).
    var isFinished: Bool { get }
    /// Lets go of the native channel before the session is torn down (if the library needs that).
    func detach()
    /// The connection failed or was closed: resolve every waiter with `error`.
    func connectionFailed(_ error: SSHError)
}

/// What every engine's connection keeps besides its native session: the operation queue, the open channels and
/// the failure that ended it, with the logic that steps, pumps and ends them (loop thread only).
package final class ConnectionState<Connection: AnyObject, Channel: PumpedChannel> {
    /// The session-level operations, head first.
    package let operations: OperationQueue<Connection>
    /// The open channels, pumped on every drive.
    package private(set) var channels: [Channel] = []
    /// Set once the connection is unusable; everything after fails with it.
    package private(set) var failure: SSHError?
    private let host: String
    private let port: Int

    /// Creates the state of a connection to `host`:`port`; `onTimeout` fails the connection.
    package init(loop: EventLoop, host: String, port: Int, onTimeout: @escaping (SSHError) -> Void) {
        self.host = host
        self.port = port
        operations = OperationQueue(loop: loop, host: host, port: port, onTimeout: onTimeout)
    }

    /// Queues `operation`; returns whether to drive (false: the connection already failed, and so did it).
    package func enqueue(_ operation: any EngineOperation<Connection>) -> Bool {
        if let failure {
            operation.fail(failure)
            return false
        }
        operations.append(operation)
        return true
    }

    /// Steps the queued operations; returns whether any finished.
    package func stepOperations(_ connection: Connection) -> Bool {
        operations.step(connection) { failure != nil }
    }

    /// Starts pumping a newly opened channel.
    package func add(_ channel: Channel) {
        channels.append(channel)
    }

    /// Pumps every channel once, forgetting those that finished. Returns whether any progressed.
    package func pumpChannels() -> Bool {
        var progress = false
        var index = 0
        while index < channels.count {
            let channel = channels[index]
            if channel.pump() { progress = true }
            if failure != nil { return progress }
            if channel.isFinished {
                channels.remove(at: index)
            } else {
                index += 1
            }
        }
        return progress
    }

    /// Fails everything pending with `error`; `teardown(false)` frees the native session first.
    package func fail(_ error: any Error, teardown: (_ graceful: Bool) -> Void) {
        let sshError = (error as? SSHError)
            ?? SSHError(.sessionClosed, host: host, port: port, message: "the operation was cancelled")
        end(failure: sshError, operationError: error, graceful: false, teardown: teardown)
    }

    /// Closes at the caller's request: channels end, pending operations fail; `teardown(true)` says goodbye.
    package func close(teardown: (_ graceful: Bool) -> Void) {
        let closed = SSHError(.sessionClosed, host: host, port: port, message: "the session was closed")
        end(failure: closed, operationError: closed, graceful: true, teardown: teardown)
    }

    /// Records `failure`, detaches channels, tears down, then fails pending operations with `operationError` and
    /// ends every channel.
    private func end(failure: SSHError, operationError: any Error, graceful: Bool, teardown: (Bool) -> Void) {
        if self.failure != nil { return }
        self.failure = failure
        let pending = operations.removeAll()
        let open = channels
        channels.removeAll()
        for channel in open { channel.detach() }
        teardown(graceful)
        for operation in pending { operation.fail(operationError) }
        for channel in open { channel.connectionFailed(failure) }
    }
}

/// A connection built on ``ConnectionState``: queueing operations, restarting deadlines and adding channels are the
/// same for every engine.
package protocol StatefulConnection: AnyObject {
    /// The engine's channel state type.
    associatedtype Channel: PumpedChannel
    /// The queue, channels and failure.
    var state: ConnectionState<Self, Channel> { get }
    /// Steps operations and pumps channels until nothing makes progress.
    func drive()
    /// Fails everything pending with `error` and tears the connection down.
    func fail(_ error: any Error)
}

extension StatefulConnection {
    /// Set once the connection is unusable; everything after fails with it.
    package var failure: SSHError? { state.failure }

    /// Queues a session-level operation and drives.
    package func enqueue(_ operation: any EngineOperation<Self>) {
        if state.enqueue(operation) { drive() }
    }

    /// Restarts the head operation's deadline (an operation with phases calls this between them).
    package func restartDeadline(_ timeout: Duration, activity: String) {
        state.operations.restartDeadline(timeout, activity: activity)
    }

    /// Starts pumping a newly opened channel.
    package func add(_ channel: Channel) {
        state.add(channel)
    }
}
