/// The unread-output rule, in one place: how much a channel's output stream may hold, and when a stream nobody reads
/// fails those who wait for the channel's end.
///
/// A stream buffers up to its capacity while nobody reads it; the engine then stops reading it and the SSH window
/// throttles the remote command. But while someone waits for the channel's end (a reader of the other stream, or a
/// caller of `exitStatus()`), a full stream nobody has ever read would block the command for ever: it may then grow
/// to its limit. At the limit, with the end still awaited, the waiters fail with `outputLimitExceeded` naming the
/// stream (nothing is dropped; reading it lets the command go on). A stream with a reader is left to its pace.
package enum UnreadOutputRule {
    /// What is known of one stream when the rule is asked.
    package struct Stream: Equatable, Sendable {
        /// Bytes it holds.
        package var buffered: Int
        /// Whether a reader ever asked it for a chunk.
        package var everRead: Bool
        /// Whether it ended.
        package var ended: Bool

        /// A stream's state.
        package init(buffered: Int, everRead: Bool, ended: Bool) {
            self.buffered = buffered
            self.everRead = everRead
            self.ended = ended
        }
    }

    /// What the rule says of a stream.
    package enum Verdict: Equatable, Sendable {
        /// The engine may read more into it.
        case read
        /// The engine stops reading it (the window throttles the command) until its reader drains it.
        case pause
        /// It sits at its limit unread while the end is awaited: the waiters fail with `outputLimitExceeded`.
        case failWaiters
    }

    /// The verdict for `stream` with `capacity` and `limit` bytes allowed, `endAwaited`: someone waits for the
    /// channel's end.
    package static func verdict(_ stream: Stream, capacity: Int, limit: Int, endAwaited: Bool) -> Verdict {
        if stream.ended { return .pause }
        let extended = endAwaited && !stream.everRead
        if stream.buffered < (extended ? max(capacity, limit) : capacity) { return .read }
        return extended ? .failWaiters : .pause
    }
}
