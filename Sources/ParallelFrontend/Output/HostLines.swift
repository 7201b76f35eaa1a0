import Foundation
import Logging
import SSHBackend

/// The lines of one output stream of one host, as an `AsyncSequence` of `String`.
///
/// Lines end at `\n` (a `\r` before it is dropped too); a last line without terminator is yielded at the end.
/// Iterating again continues where the previous iteration stopped (nothing is read twice, nothing is lost), so
/// after a ``HostOutput/readTimeout`` error a new `for try await` picks up the rest. One reader at a time.
public struct HostLines: AsyncSequence, Sendable {
    public typealias Element = String

    let reader: LineReader

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: LineReader
        let deadline: ContinuousClock.Instant?

        /// The next line, `nil` at the end of the stream.
        public mutating func next() async throws -> String? { try await reader.nextLine(deadline: deadline) }
    }

    /// Starts an iteration pass; the host's read timeout, if any, is a deadline for this pass.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: reader, deadline: reader.readTimeout.map { ContinuousClock.now.advanced(by: $0) })
    }

    /// Reads every remaining line (through the host logger, if enabled) and returns how many there were.
    @discardableResult
    public func drain() async throws -> Int {
        var count = 0
        for try await _ in self { count += 1 }
        return count
    }
}

/// Splits one byte stream into lines, keeping its place between iterations (an actor: one pass at a time).
actor LineReader {
    private let stream: SSHByteStream
    private let host: String
    private let port: Int
    private let label: String
    private let encoding: String.Encoding
    private let logger: Logger?
    nonisolated let readTimeout: Duration?
    private var pending: [UInt8] = []
    private var scanned = 0
    private var ended = false
    private var busy = false

    init(stream: SSHByteStream, host: String, port: Int, label: String, isStderr: Bool, encoding: String.Encoding,
         readTimeout: Duration?, logger: Logger?) {
        self.stream = stream
        self.host = host
        self.port = port
        self.label = isStderr ? "[\(label)]\t[err]\t" : "[\(label)]\t"
        self.encoding = encoding
        self.readTimeout = readTimeout
        self.logger = logger
    }

    func nextLine(deadline: ContinuousClock.Instant?) async throws -> String? {
        guard !busy else {
            throw SSHError(.invalidArgument, host: host, port: port, message: "this output stream already has a reader")
        }
        busy = true
        defer { busy = false }
        while true {
            if let line = takeLine() { return emit(line) }
            if ended {
                guard !pending.isEmpty else { return nil }
                defer {
                    pending.removeAll()
                    scanned = 0
                }
                return emit(pending[...])
            }
            if let chunk = try await read(deadline: deadline) {
                pending.append(contentsOf: chunk)
            } else {
                ended = true
            }
        }
    }

    private func takeLine() -> ArraySlice<UInt8>? {
        guard let newline = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = pending.count
            return nil
        }
        var end = newline
        if end > 0 && pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = pending[..<end]
        pending.removeSubrange(...newline)
        scanned = 0
        return line
    }

    private func emit(_ bytes: ArraySlice<UInt8>) -> String {
        let line = String(bytes: bytes, encoding: encoding) ?? String(decoding: bytes, as: UTF8.self)
        logger?.info("\(label)\(line)")
        return line
    }

    /// The next chunk, or a timeout error once `deadline` passes (a chunk that arrives as the timer fires is kept).
    private func read(deadline: ContinuousClock.Instant?) async throws -> [UInt8]? {
        guard let deadline else { return try await stream.nextChunk() }
        let stream = self.stream
        enum Event: Sendable { case chunk([UInt8]?), timedOut, cancelled }
        return try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                do { return .chunk(try await stream.nextChunk()) } catch is CancellationError { return .cancelled }
            }
            group.addTask {
                do { try await Task.sleep(until: deadline) } catch { return .cancelled }
                return .timedOut
            }
            var result: Event = .cancelled
            while let event = try await group.next() {
                switch event {
                case .chunk: result = event
                case .timedOut: if case .cancelled = result { result = event }
                case .cancelled: break
                }
                group.cancelAll()
            }
            switch result {
            case .chunk(let chunk): return chunk
            case .timedOut:
                throw SSHError(.timeout, host: host, port: port,
                               message: "no further output within the read timeout; reading again continues where this stopped")
            case .cancelled:
                throw CancellationError()
            }
        }
    }
}
