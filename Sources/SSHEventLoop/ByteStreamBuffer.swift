import SSHBackend
import Synchronization

/// A bounded, single-consumer pipe of byte chunks from an engine (producer, on the loop thread) to one reader.
///
/// The producer asks ``hasRoom(extended:)`` before each native read; once ``capacity`` bytes are buffered the
/// answer is no, the engine stops reading that stream, and the SSH window throttles the remote command. When the
/// reader drains the buffer to half, ``onDemand`` is called so the engine resumes reading.
///
/// How much it may hold is ``UnreadOutputRule``'s to say: the producer asks with `extended` while someone waits for
/// the channel's end, and a stream nobody ever read may then grow to ``limit``. Memory per stream is therefore
/// bounded by `limit` plus one chunk, whatever the remote writes.
package final class ByteStreamBuffer: SSHByteSource {
    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var buffered = 0
        var ended = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
        var producerPaused = false
        /// Whether a reader that starts waiting should wake the producer (the other stream of the channel is
        /// paused full, and only a waiting reader here lets it buffer past its capacity).
        var wakeOnWait = false
        /// Whether a reader ever asked for a chunk.
        var everRead = false
    }

    /// The most bytes held before the producer is asked to stop.
    package let capacity: Int
    /// The most bytes held while someone waits for the channel's end (at least ``capacity``).
    package let limit: Int
    private let state = Mutex(State())
    private let onDemand: @Sendable () -> Void

    /// Creates a buffer; `onDemand` runs (on the consumer's thread) when a paused producer should resume.
    /// - Parameter limit: the most bytes held while someone waits for the channel's end (default: `capacity`).
    package init(capacity: Int, limit: Int? = nil, onDemand: @escaping @Sendable () -> Void) {
        self.capacity = capacity
        self.limit = max(capacity, limit ?? capacity)
        self.onDemand = onDemand
    }

    // MARK: Producer side

    /// Whether the producer may add more (``UnreadOutputRule``, `extended`: someone waits for the channel's end).
    /// Answering no marks the producer paused, so the consumer's next reads will ask it to resume.
    package func hasRoom(extended: Bool = false) -> Bool {
        state.withLock { state in
            if state.ended { return false }
            if verdict(state, endAwaited: extended) == .read { return true }
            state.producerPaused = true
            return false
        }
    }

    /// What ``UnreadOutputRule`` says of this stream while someone waits for the channel's end: `failWaiters` when
    /// nobody ever read it and it holds ``limit`` bytes.
    package var verdictWhileEndAwaited: UnreadOutputRule.Verdict { state.withLock { verdict($0, endAwaited: true) } }

    private func verdict(_ state: State, endAwaited: Bool) -> UnreadOutputRule.Verdict {
        UnreadOutputRule.verdict(
            .init(buffered: state.buffered, everRead: state.everRead, ended: state.ended),
            capacity: capacity, limit: limit, endAwaited: endAwaited)
    }

    /// Whether a reader waits for a chunk now.
    package var hasWaitingReader: Bool { state.withLock { $0.waiter != nil } }

    /// Asks to be woken (``onDemand``) when a reader starts waiting; returns whether one already waits, so the
    /// producer can act at once. Used while the other stream of the channel is paused full.
    package func wakeProducerWhenWaited() -> Bool {
        state.withLock { state in
            if state.waiter != nil { return true }
            state.wakeOnWait = true
            return false
        }
    }

    /// Ends the current wait (if any) with `error`, leaving the stream open: a later read goes on from where it
    /// stood. The producer uses it when the reader waits on output that cannot come.
    package func failWaitingReader(_ error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: error)
    }

    /// Bytes held now (for tests and diagnostics).
    package var bufferedBytes: Int { state.withLock { $0.buffered } }

    /// Hands `bytes` to a waiting reader, or buffers them.
    package func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            if state.ended { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.chunks.append(bytes)
            state.buffered += bytes.count
            return nil
        }
        waiter?.resume(returning: bytes)
    }

    /// Ends the stream: the reader gets every buffered chunk, then `nil`, or `error` if one is given.
    /// Later calls are ignored.
    package func finish(throwing error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            if state.ended { return nil }
            state.ended = true
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    /// Whether ``finish(throwing:)`` was called.
    package var isFinished: Bool { state.withLock { $0.ended } }

    // MARK: Consumer side

    private enum Poll {
        case chunk([UInt8], resume: Bool)
        case end
        case failed(any Error)
        case wait
    }

    private func poll(_ state: inout State) -> Poll {
        if state.head < state.chunks.count {
            let chunk = state.chunks[state.head]
            state.head += 1
            state.buffered -= chunk.count
            if state.head == state.chunks.count {
                state.chunks.removeAll(keepingCapacity: state.chunks.count <= 64)
                state.head = 0
            } else if state.head >= 64 {
                state.chunks.removeFirst(state.head)
                state.head = 0
            }
            var resume = false
            if state.producerPaused && state.buffered <= capacity / 2 {
                state.producerPaused = false
                resume = true
            }
            return .chunk(chunk, resume: resume)
        }
        if state.ended {
            if let failure = state.failure { return .failed(failure) }
            return .end
        }
        return .wait
    }

    private func deliver(_ poll: Poll) throws -> [UInt8]?? {
        switch poll {
        case .chunk(let chunk, let resume):
            if resume { onDemand() }
            return .some(chunk)
        case .end: return .some(nil)
        case .failed(let error): throw error
        case .wait: return nil
        }
    }

    /// The next chunk, `nil` at the end; throws the stream's error after the last chunk.
    package func next() async throws -> [UInt8]? {
        if let ready = try deliver(
            state.withLock { state in
                state.everRead = true
                return poll(&state)
            })
        {
            return ready
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
                var wake = false
                let outcome = state.withLock { state -> Poll in
                    let outcome = poll(&state)
                    if case .wait = outcome {
                        if Task.isCancelled { return .failed(CancellationError()) }
                        precondition(state.waiter == nil, "an SSHByteStream has a single consumer")
                        state.waiter = continuation
                        wake = state.wakeOnWait
                        state.wakeOnWait = false
                    }
                    return outcome
                }
                if wake { onDemand() }
                do {
                    if let ready = try deliver(outcome) { continuation.resume(returning: ready) }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
