/// The receiving side of SCP's source protocol (what `scp -f` sends), record by record: where each file and
/// directory lands, and every way a server can break the protocol. It does no I/O, so hostile input reaches it
/// directly in the fuzzer.
package struct SCPReceiveState {
    /// What the receiver does for a record.
    package enum Step: Equatable, Sendable {
        /// `T`: modification times, acknowledged and not applied.
        case acknowledge
        /// `C`: a file of `size` bytes follows, to be written at `path`.
        case file(path: String, mode: UInt32, size: UInt64)
        /// `D`: a directory to create at `path` and enter.
        case directory(path: String, mode: UInt32)
        /// `E`: the current directory ends.
        case endDirectory
    }

    /// How a server broke the protocol.
    package enum Violation: Error, Equatable, Sendable {
        /// A `C` or `D` line that does not parse.
        case malformedHeader(String)
        /// A record type the protocol does not have here.
        case unexpectedRecord(UInt8)
        /// A name below the top that is not one plain component (`..`, a slash, empty).
        case unsafeName(String)
        /// An `E` with no directory open.
        case unmatchedEnd
        /// A directory where a single file was asked for.
        case directoryNotAsked
        /// A record after the transfer was complete.
        case afterEnd
        /// The server's own error message (`\u{1}` or `\u{2}` records).
        case remoteError(String)
    }

    /// Where the first record lands.
    let top: String
    /// Whether directories may come (`scp -r -f`).
    let recursive: Bool
    private var directories: [String] = []
    private var started = false
    /// Whether the transfer is complete (the single file, or the top directory's `E`, has come).
    package private(set) var isComplete = false

    /// A receiver for `top`; `recursive` when a tree was asked for.
    package init(top: String, recursive: Bool) {
        self.top = top
        self.recursive = recursive
    }

    /// The step for one record: its type byte and the rest of its line (without the newline). A file step leaves
    /// the state waiting for its data; the caller reads `size` bytes and the status byte, then the next record.
    package mutating func consume(kind: UInt8, line: String) throws(Violation) -> Step {
        if isComplete { throw .afterEnd }
        switch kind {
        case UInt8(ascii: "T"):
            return .acknowledge
        case 1, 2:
            throw .remoteError(line)
        case UInt8(ascii: "E"):
            guard directories.popLast() != nil else { throw .unmatchedEnd }
            if directories.isEmpty { isComplete = true }
            return .endDirectory
        case UInt8(ascii: "C"), UInt8(ascii: "D"):
            guard let record = SCPRecord(header: kind, line) else { throw .malformedHeader(line) }
            switch record {
            case .file(let mode, let size, let name):
                let path = try place(name)
                if directories.isEmpty { isComplete = true }
                return .file(path: path, mode: mode, size: size)
            case .directory(let mode, let name):
                guard recursive else { throw .directoryNotAsked }
                let path = try place(name)
                directories.append(path)
                return .directory(path: path, mode: mode)
            }
        default:
            throw .unexpectedRecord(kind)
        }
    }

    /// The first record lands at `top`; names below it come from the server, so each must be one plain component.
    private mutating func place(_ name: String) throws(Violation) -> String {
        if !started {
            started = true
            return top
        }
        guard let parent = directories.last, PathName.isPlainEntry(name) else { throw .unsafeName(name) }
        return PathName.joined(parent, name)
    }
}
