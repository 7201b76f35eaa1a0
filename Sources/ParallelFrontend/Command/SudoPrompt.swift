import SSHBackend
import Synchronization

/// Answers sudo's password prompt with `sudoPassword`, only when sudo asks, and keeps the prompt out of the output.
///
/// The command runs as `sudo -S -p '<marker>' …`, so sudo prints a prompt nobody else prints. A watcher reads the
/// stream the prompt arrives on (stderr; stdout under a PTY, which merges them) until the marker appears, writes
/// the password then (sudo has turned the terminal's echo off by that time, so a PTY does not echo it), and hands
/// every byte it read, less the marker, to whoever reads the stream. A sudo that does not ask (`NOPASSWD`, root,
/// a cached credential) never gets the password on stdin. The watcher holds at most ``watchLimit`` bytes: past
/// that without a prompt it stops watching and the stream is read directly again.
///
/// A wrong password makes sudo print "Sorry, try again." and ask again: the watcher keeps watching for up to
/// ``watchLimit`` bytes after its answer, and a second prompt is answered with the end of input instead (EOF, or
/// Ctrl-D under a PTY), so sudo gives up and the command ends with sudo's status and its message instead of
/// waiting for a password forever.
final class SudoPrompt: SSHByteSource {
    /// The prompt given to `sudo -p`: no `%` (sudo expands those), nothing a command prints by chance.
    static let marker = "[sudo: parallel-ssh asks for the password of this host]"
    /// The most bytes held while watching for the prompt.
    static let watchLimit = 64 * 1024

    private struct State {
        /// Bytes read while watching, not yet handed on.
        var held: [UInt8] = []
        /// Whether the watcher has stopped reading the stream (the prompt was answered, it ended, or the limit).
        var watcherDone = false
        /// How the stream ended while watching (`nil`: it did not).
        var ended: Result<Void, any Error>?
        var reader: CheckedContinuation<Void, Never>?
    }

    private let stream: SSHByteStream
    private let state = Mutex(State())

    /// Starts watching `stream` for the prompt; `answer` writes the password to the command's stdin, `giveUp` ends
    /// its input (a second prompt: the password was wrong). With `terminal` (the stream is a PTY's), the line break
    /// sudo prints once the password is read is dropped too: it ends the prompt's line, which is not shown.
    init(
        stream: SSHByteStream, terminal: Bool, answer: @escaping @Sendable () async -> Void,
        giveUp: @escaping @Sendable () async -> Void
    ) {
        self.stream = stream
        Task { [self] in await watch(terminal: terminal, answer: answer, giveUp: giveUp) }
    }

    private func watch(
        terminal: Bool, answer: @escaping @Sendable () async -> Void,
        giveUp: @escaping @Sendable () async -> Void
    ) async {
        let marker = Array(Self.marker.utf8)
        var prompts = 0
        var stripLineBreak = false
        /// Bytes read since the answer (a second prompt comes first, if it comes).
        var sinceAnswer = 0
        while prompts < 2 && (prompts == 0 || stripLineBreak || sinceAnswer < Self.watchLimit) {
            let chunk: [UInt8]?
            var failure: (any Error)?
            do { chunk = try await stream.nextChunk() } catch {
                chunk = nil
                failure = error
            }
            let (found, full) = state.withLock { state -> (Bool, Bool) in
                guard var chunk else {
                    state.ended = failure.map { .failure($0) } ?? .success(())
                    return (false, true)
                }
                if prompts > 0 { sinceAnswer += chunk.count }
                if stripLineBreak {
                    stripLineBreak = false
                    if chunk.starts(with: [13, 10]) {
                        chunk.removeFirst(2)
                    } else if chunk.first == 10 {
                        chunk.removeFirst()
                    }
                    // The same chunk may hold sudo's "Sorry, try again." and its next prompt: searched below.
                }
                state.held += chunk
                if let range = state.held.firstRange(of: marker) {
                    state.held.removeSubrange(range)
                    return (true, false)
                }
                return (false, state.held.count >= Self.watchLimit)
            }
            if found {
                prompts += 1
                if prompts == 1 { await answer() } else { await giveUp() }
                stripLineBreak = terminal && prompts == 1
            } else if full {
                break
            }
            wakeReader()
        }
        state.withLock { $0.watcherDone = true }
        wakeReader()
    }

    private func wakeReader() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.reader = nil }
            return state.reader
        }?.resume()
    }

    /// The next bytes: what the watcher holds (less a tail that may be the start of the prompt, while it still
    /// watches), then the stream itself once the watcher has stopped.
    func next() async throws -> [UInt8]? {
        let keep = Self.marker.utf8.count - 1
        while true {
            enum Step {
                case bytes([UInt8])
                case direct
                case end(Result<Void, any Error>)
                case wait
            }
            let step = state.withLock { state -> Step in
                if state.watcherDone {
                    if !state.held.isEmpty {
                        defer { state.held = [] }
                        return .bytes(state.held)
                    }
                    if let ended = state.ended { return .end(ended) }
                    return .direct
                }
                // While watching, a tail that could begin the marker stays until the next chunk decides.
                let tail = Self.markerPrefixLength(at: state.held, limit: keep)
                if state.held.count > tail {
                    let ready = Array(state.held[..<(state.held.count - tail)])
                    state.held.removeFirst(ready.count)
                    return .bytes(ready)
                }
                return .wait
            }
            switch step {
            case .bytes(let bytes): return bytes
            case .direct: return try await stream.nextChunk()
            case .end(let result):
                try result.get()
                return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        let tail = Self.markerPrefixLength(at: state.held, limit: keep)
                        if state.watcherDone || state.held.count > tail { return true }
                        state.reader = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// The length of the longest end of `bytes` (at most `limit`) that is a beginning of the marker.
    static func markerPrefixLength(at bytes: [UInt8], limit: Int) -> Int {
        let marker = Array(marker.utf8)
        var length = min(limit, bytes.count)
        while length > 0 {
            if bytes[(bytes.count - length)...].elementsEqual(marker[..<length]) { return length }
            length -= 1
        }
        return 0
    }
}
