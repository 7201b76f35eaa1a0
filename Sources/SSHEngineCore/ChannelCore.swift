import SSHBackend
import SSHEventLoop
import Synchronization

/// What a channel keeps besides its native handle: the bounded output streams, stdin writes waiting for the
/// window, the EOF request, the exit status and everyone waiting on them (loop thread only). The
/// ``ChannelDriver`` owns one and feeds it through its native channel's calls.
package final class ChannelCore {
    private struct PendingWrite {
        let bytes: [UInt8]
        var offset: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// Where the caller's EOF request stands.
    package enum EOFState {
        case none
        case requested
        case sent
    }

    /// The command's stdout.
    package let stdout: ByteStreamBuffer
    /// The command's stderr.
    package let stderr: ByteStreamBuffer
    private let host: String
    private let port: Int
    private var writes: [PendingWrite] = []
    /// Where the caller's EOF request stands.
    package private(set) var eofState = EOFState.none
    private var eofWaiters: [CheckedContinuation<Void, any Error>] = []
    /// The command's exit, once known (or why it never will be); published to other threads as it is set.
    package var exit: Result<SSHExitStatus, SSHError>? {
        didSet { if let exit { publishedExit.publish(exit) } }
    }
    /// The exit as other threads may read it without hopping onto the loop.
    package let publishedExit = PublishedExit()

    /// What the public channel reads from any thread: the two streams and the published exit.
    package struct Outlets: Sendable {
        /// The command's stdout.
        package let stdout: ByteStreamBuffer
        /// The command's stderr.
        package let stderr: ByteStreamBuffer
        /// The exit, once settled.
        package let exit: PublishedExit
    }

    /// The streams and the published exit, to hand to the public channel.
    package var outlets: Outlets { Outlets(stdout: stdout, stderr: stderr, exit: publishedExit) }
    private var exitWaiters: [UInt64: CheckedContinuation<SSHExitStatus, any Error>] = [:]
    private var nextWaiter: UInt64 = 0
    private var closeWaiters: [CheckedContinuation<Void, any Error>] = []

    /// Creates the bookkeeping for a channel on `host`; `onDemand` runs when a paused stream's reader caught up.
    /// - Parameters:
    ///   - capacity: bytes each stream buffers while nobody reads it.
    ///   - limit: bytes each stream may buffer while someone waits for the channel's end (a reader of the other
    ///     stream, or an exit waiter), so a stream nobody reads does not block the command they wait for.
    package init(capacity: Int, limit: Int? = nil, host: String, port: Int, onDemand: @escaping @Sendable () -> Void) {
        self.host = host
        self.port = port
        stdout = ByteStreamBuffer(capacity: capacity, limit: limit, onDemand: onDemand)
        stderr = ByteStreamBuffer(capacity: capacity, limit: limit, onDemand: onDemand)
    }

    /// An error naming this channel's host.
    package func error(_ code: SSHError.Code, _ message: String) -> SSHError {
        SSHError(code, host: host, port: port, message: message)
    }

    // MARK: Requests

    /// Queues stdin bytes. Returns whether the engine should drive (false: resumed already).
    package func enqueueWrite(_ bytes: [UInt8], _ continuation: CheckedContinuation<Void, any Error>, open: Bool)
        -> Bool
    {
        guard open, eofState == .none else {
            // A channel that ended with the connection's failure says so (a write racing the loss learns the
            // cause, connectionLost, not merely that the channel is gone).
            if case .failure(let failure)? = exit {
                continuation.resume(throwing: failure)
            } else {
                continuation.resume(
                    throwing: error(.sessionClosed, "cannot write: stdin was closed (EOF sent) or the channel ended"))
            }
            return false
        }
        if bytes.isEmpty {
            continuation.resume()
            return false
        }
        writes.append(PendingWrite(bytes: bytes, offset: 0, continuation: continuation))
        return true
    }

    /// Asks for EOF after the queued writes. Returns whether the engine should drive (false: resumed already).
    package func requestEOF(_ continuation: CheckedContinuation<Void, any Error>, open: Bool) -> Bool {
        if eofState == .sent || !open {
            continuation.resume()
            return false
        }
        eofState = .requested
        eofWaiters.append(continuation)
        return true
    }

    /// Waits for the exit status; returns an id to cancel the wait with, or nil when it was already known.
    package func waitForExit(_ continuation: CheckedContinuation<SSHExitStatus, any Error>) -> UInt64? {
        if let exit {
            continuation.resume(with: exit)
            return nil
        }
        nextWaiter += 1
        exitWaiters[nextWaiter] = continuation
        return nextWaiter
    }

    /// Ends one exit wait with `CancellationError` (its task was cancelled).
    package func cancelExitWaiter(_ id: UInt64) {
        exitWaiters.removeValue(forKey: id)?.resume(throwing: CancellationError())
    }

    /// Adds a caller of `close()` to resume once the channel is closed on our side.
    package func addCloser(_ continuation: CheckedContinuation<Void, any Error>?) {
        if let continuation { closeWaiters.append(continuation) }
    }

    /// Resumes every caller of `close()`.
    package func resumeClosers() {
        let closers = closeWaiters
        closeWaiters.removeAll()
        for closer in closers { closer.resume() }
    }

    // MARK: Pumping

    /// Writes queued stdin through `write` (given the unwritten bytes; at most `limit` of them are offered), then
    /// sends a requested EOF through `sendEOF` once nothing is queued. Returns whether anything progressed; throws
    /// only `connectionLost` (other failures fail the writes and EOF waiters).
    package func pumpWrites(
        limit: Int, write: (UnsafeRawBufferPointer) -> NativeOutcome,
        sendEOF: () -> NativeOutcome
    ) throws(SSHError) -> Bool {
        var progress = false
        while !writes.isEmpty {
            let offset = writes[0].offset
            let count = min(writes[0].bytes.count - offset, limit)
            let outcome = writes[0].bytes.withUnsafeBytes {
                write(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count]))
            }
            switch outcome {
            case .done(let written) where written > 0:
                progress = true
                writes[0].offset += written
                if writes[0].offset == writes[0].bytes.count { writes.removeFirst().continuation.resume() }
                continue
            case .done, .wouldBlock:
                break
            case .failed(let error):
                if error.code == .connectionLost { throw error }
                failWrites(error)
                return true
            }
            break
        }
        if writes.isEmpty && eofState == .requested {
            let outcome = sendEOF()
            var failure: SSHError?
            switch outcome {
            case .wouldBlock: return progress
            case .done: failure = nil
            case .failed(let error):
                if error.code == .connectionLost { throw error }
                failure = error
            }
            eofState = .sent
            let waiters = eofWaiters
            eofWaiters.removeAll()
            for waiter in waiters {
                if let failure { waiter.resume(throwing: failure) } else { waiter.resume() }
            }
            progress = true
        }
        return progress
    }

    /// Reads both streams through `read` (it returns the bytes read, empty when nothing is available, or throws)
    /// while each has room, or until it finishes when `force` is set. Returns whether anything was read. A failed
    /// read ends both streams and the exit with that error and is rethrown, so the driver can close the channel
    /// (or the connection, for `connectionLost`).
    ///
    /// A stream nobody reads keeps being read past its capacity, up to its limit, while someone waits for the
    /// channel's end: a reader of the other stream, or an exit waiter. When it sits at its limit and nothing could
    /// be read, those waiters fail with ``SSHError/Code/outputLimitExceeded`` rather than wait for ever (see
    /// ``reportUnreadOutput()``).
    package func pumpReads(force: Bool, read: (ChannelStream) throws(SSHError) -> [UInt8]) throws(SSHError) -> Bool {
        var progress = false
        for stream in ChannelStream.allCases {
            let buffer = stream == .stdout ? stdout : stderr
            let other = stream == .stdout ? stderr : stdout
            var extended = !exitWaiters.isEmpty || other.hasWaitingReader
            while true {
                if force {
                    if buffer.isFinished { break }
                } else if !buffer.hasRoom(extended: extended) {
                    // Paused full: a reader that starts waiting on the other stream must wake us, or one already
                    // waits (it registered since `extended` was computed) and we go on.
                    if !extended && other.wakeProducerWhenWaited() {
                        extended = true
                        continue
                    }
                    break
                }
                let bytes: [UInt8]
                do { bytes = try read(stream) } catch {
                    if error.code != .connectionLost {
                        stdout.finish(throwing: error)
                        stderr.finish(throwing: error)
                        exit = .failure(error)
                    }
                    throw error
                }
                if bytes.isEmpty { break }
                buffer.append(bytes)
                progress = true
            }
        }
        if !progress && !force { reportUnreadOutput() }
        return progress
    }

    /// Fails whoever waits for the channel's end while a stream nobody reads sits at its limit: the reader of the
    /// other stream and the exit waiters get ``SSHError/Code/outputLimitExceeded`` naming the stream. Nothing is
    /// closed or dropped; reading that stream lets the command go on.
    private func reportUnreadOutput() {
        for stream in ChannelStream.allCases {
            let buffer = stream == .stdout ? stdout : stderr
            let other = stream == .stdout ? stderr : stdout
            guard other.hasWaitingReader || !exitWaiters.isEmpty, buffer.verdictWhileEndAwaited == .failWaiters else {
                continue
            }
            let name = stream == .stdout ? "stdout" : "stderr"
            let failure = error(
                .outputLimitExceeded,
                "\(name) holds \(buffer.bufferedBytes) bytes nobody reads (the unread "
                    + "output limit) and the command is still running; read \(name) as well, or raise the unread output limit"
            )
            other.failWaitingReader(failure)
            let waiters = exitWaiters
            exitWaiters.removeAll()
            for waiter in waiters.values { waiter.resume(throwing: failure) }
        }
    }

    // MARK: Ending

    /// The channel starts closing. When the caller closed a running command, both output streams end (after what
    /// they hold) and its pending writes and exit status fail at once (see ``closedByCaller()``). After the remote
    /// EOF the streams stay open until the exit status is settled (``settleExit(_:)``), so a reader who saw the
    /// end of stdout can read the exit status at once.
    package func beginClosing(byUser: Bool) {
        guard byUser else { return }
        stdout.finish()
        stderr.finish()
        closedByCaller()
    }

    /// The server closed the channel after its EOF: records `exit` (unless an earlier failure decided it), ends
    /// both streams and resumes the exit waiters.
    package func settleExit(_ exit: Result<SSHExitStatus, SSHError>) {
        if self.exit == nil { self.exit = exit }
        stdout.finish()
        stderr.finish()
        resumeExitWaiters()
    }

    /// The caller closed the channel while the command runs: stdin writes fail, and the exit status will never be
    /// known, so its waiters learn that now rather than when the server finally answers the close.
    private func closedByCaller() {
        let closed = error(.sessionClosed, "the channel was closed")
        failWrites(closed)
        if exit == nil { exit = .failure(error(.sessionClosed, "the channel was closed before the command ended")) }
        resumeExitWaiters()
    }

    /// Resumes everyone waiting for the exit status with it (it is set by then).
    private func resumeExitWaiters() {
        guard let exit else { return }
        let waiters = exitWaiters
        exitWaiters.removeAll()
        for waiter in waiters.values { waiter.resume(with: exit) }
    }

    /// Fails every queued write and EOF waiter with `error`.
    package func failWrites(_ error: SSHError) {
        let pending = writes
        writes.removeAll()
        for write in pending { write.continuation.resume(throwing: error) }
        let waiters = eofWaiters
        eofWaiters.removeAll()
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Resolves every waiter once the channel is gone; `error` is the connection's failure, if that is why.
    package func finish(_ error: SSHError?) {
        if let error { failWrites(error) }
        if exit == nil {
            exit = .failure(error ?? self.error(.sessionClosed, "the channel was closed before the command ended"))
        }
        stdout.finish(throwing: error)
        stderr.finish(throwing: error)
        resumeExitWaiters()
        resumeClosers()
    }
}

/// A channel's exit status as the loop publishes it, readable from any thread without waiting.
package final class PublishedExit: Sendable {
    private let value = Mutex<Result<SSHExitStatus, SSHError>?>(nil)

    /// Creates an empty publication.
    package init() {}

    /// The exit, once known.
    package var result: Result<SSHExitStatus, SSHError>? { value.withLock { $0 } }

    /// Publishes `exit` (the first value stays).
    func publish(_ exit: Result<SSHExitStatus, SSHError>) {
        value.withLock { if $0 == nil { $0 = exit } }
    }
}
