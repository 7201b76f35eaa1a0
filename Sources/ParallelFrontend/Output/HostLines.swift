import Foundation
import Logging
import SSHBackend
import SSHEventLoop
import Synchronization

/// The lines of one output stream of one host, as an `AsyncSequence` of `String`.
///
/// Lines end at `\n` (a `\r` before it is dropped too); a last line without terminator is yielded at the end. A
/// line longer than 1 MiB arrives in pieces of at most 1 MiB (see `LineSplitter`), so a command that prints
/// without newlines cannot exhaust memory.
/// Iterating again continues where the previous iteration stopped (nothing is read twice, nothing is lost), so
/// after a read-timeout error (`readTimeout` of `runCommand`) a new `for try await` picks up the rest. One reader
/// at a time.
public struct HostLines: AsyncSequence, Sendable {
    public typealias Element = String

    let reader: LineReader

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: LineReader
        let deadline: Duration?

        /// The next line, `nil` at the end of the stream.
        public mutating func next() async throws -> String? { try await reader.nextLine(deadline: deadline) }

        /// The next line, read on the caller's actor: a line already buffered costs no executor hop.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> String? {
            try await reader.nextLine(deadline: deadline, isolation: actor)
        }
    }

    /// Starts an iteration pass; the host's read timeout, if any, is a deadline for this pass.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: reader, deadline: reader.readTimeout.map { WaitClock.current.now + $0 })
    }

    /// Reads every remaining line (through the host logger, if enabled) and returns how many there were.
    @discardableResult
    public func drain() async throws -> Int {
        var count = 0
        for try await _ in self { count += 1 }
        return count
    }
}

/// Splits one byte stream into lines, keeping its place between iterations. A line already buffered is returned
/// without suspending (a lock, not an actor hop, guards the buffer); only an empty buffer waits for the stream.
/// One reader at a time.
final class LineReader: Sendable {
    private struct State {
        var lines = LineSplitter()
        var ended = false
        var busy = false
    }

    private let stream: SSHByteStream
    private let host: String
    private let port: Int
    private let label: String
    private let encoding: String.Encoding
    private let logger: Logger?
    let readTimeout: Duration?
    private let state = Mutex(State())

    init(
        stream: SSHByteStream, host: String, port: Int, label: String, isStderr: Bool, encoding: String.Encoding,
        readTimeout: Duration?, logger: Logger?
    ) {
        self.stream = stream
        self.host = host
        self.port = port
        self.label = isStderr ? "[\(label)]\t[err]\t" : "[\(label)]\t"
        self.encoding = encoding
        self.readTimeout = readTimeout
        self.logger = logger
    }

    private enum Step {
        case line(String)
        case end
        case needMore
    }

    /// The next line; runs on the caller's actor (`isolation`), so only waiting for more bytes leaves it.
    func nextLine(deadline: Duration?, isolation: isolated (any Actor)? = #isolation) async throws -> String? {
        try state.withLock { (state) throws(SSHError) in
            guard !state.busy else {
                throw SSHError(
                    .invalidArgument, host: host, port: port, message: "this output stream already has a reader")
            }
            state.busy = true
        }
        defer { state.withLock { $0.busy = false } }
        while true {
            let step = state.withLock { state -> Step in
                if let line = state.lines.nextLine() { return .line(decode(line)) }
                if state.ended { return state.lines.takeRest().map { .line(decode($0)) } ?? .end }
                return .needMore
            }
            switch step {
            case .line(let line):
                logger?.info("\(label)\(line)")
                return line
            case .end:
                return nil
            case .needMore:
                let chunk = try await read(deadline: deadline)
                state.withLock { state in
                    if let chunk { state.lines.append(chunk) } else { state.ended = true }
                }
            }
        }
    }

    private func decode(_ bytes: ArraySlice<UInt8>) -> String {
        if encoding == .utf8 {
            return String(validating: bytes, as: UTF8.self) ?? String(decoding: bytes, as: UTF8.self)
        }
        return String(bytes: bytes, encoding: encoding) ?? String(decoding: bytes, as: UTF8.self)
    }

    /// The next chunk, or a timeout error once `deadline` passes (a chunk that arrives as the timer fires is kept).
    private func read(deadline: Duration?) async throws -> [UInt8]? {
        guard let deadline else { return try await stream.nextChunk() }
        let clock = WaitClock.current
        let stream = self.stream
        enum Event: Sendable {
            case chunk([UInt8]?)
            case timedOut, cancelled
        }
        return try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                do { return .chunk(try await stream.nextChunk()) } catch is CancellationError { return .cancelled }
            }
            group.addTask {
                do { try await clock.sleep(until: deadline) } catch { return .cancelled }
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
                throw SSHError(
                    .timeout, host: host, port: port,
                    message: "no further output within the read timeout; reading again continues where this stopped")
            case .cancelled:
                throw CancellationError()
            }
        }
    }
}
