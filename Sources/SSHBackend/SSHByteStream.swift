/// Where an ``SSHByteStream`` gets its bytes. Engines implement it; consumers use ``SSHByteStream``.
public protocol SSHByteSource: Sendable {
    /// The next chunk, `nil` at the end of the stream.
    /// - Throws: the error that ended the stream (after every chunk received before it), or
    ///   `CancellationError` when the waiting task is cancelled.
    func next() async throws -> [UInt8]?
}

/// An asynchronous sequence of byte chunks (one stream of one channel). Single consumer.
///
/// Iterating it is the only way output is consumed; while nobody iterates, the engine's bounded buffer fills and
/// the remote side is throttled.
public struct SSHByteStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    private let source: any SSHByteSource

    /// Wraps a source.
    public init(_ source: any SSHByteSource) { self.source = source }

    /// The iterator: each `next()` returns the next chunk.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let source: any SSHByteSource

        /// The next chunk or `nil` at the end.
        public mutating func next() async throws -> [UInt8]? { try await source.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }

    /// The next chunk, `nil` at the end: the iterator's `next()` for callers that keep no iterator (the stream is
    /// `Sendable`, so a child task can wait on it). Cancelling the wait loses nothing: later chunks stay buffered.
    public func nextChunk() async throws -> [UInt8]? { try await source.next() }

    /// Reads the stream to its end and returns every byte. Use only when the output is known to be small.
    public func collect() async throws -> [UInt8] {
        var all: [UInt8] = []
        for try await chunk in self { all.append(contentsOf: chunk) }
        return all
    }

    /// Reads the stream to its end and returns its first `limit` bytes; the rest is read and dropped, so a peer
    /// that sends without end cannot make the caller hold more than `limit` bytes.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var kept: [UInt8] = []
        for try await chunk in self where kept.count < limit {
            kept.append(contentsOf: chunk.prefix(limit - kept.count))
        }
        return kept
    }
}
