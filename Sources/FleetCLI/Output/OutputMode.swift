import Foundation
import ParallelFrontend
import Synchronization

/// Which of a command's streams a line came from.
public enum OutputStream: Sendable {
    /// Standard output.
    case stdout
    /// Standard error.
    case stderr
}

/// How a run is printed. Lines arrive from many hosts at once (``line(host:stream:text:)`` must be safe to call
/// concurrently); finished hosts arrive one at a time.
public protocol OutputMode: Sendable {
    /// Whether the run hands over each line as it arrives.
    var streamsLines: Bool { get }
    /// A whole line of a host's output (without its newline).
    func line(host: String, stream: OutputStream, text: String)
    /// A host finished (called one host at a time).
    func hostFinished(_ report: HostReport)
    /// Every host finished.
    func finish(_ reports: [HostReport])
}

/// Where a mode writes: standard output and error, each line written whole under one lock, and on a terminal a
/// status line at the bottom of standard error that output never mixes with (it is cleared before each write and
/// drawn again after).
public final class Terminal: Sendable {
    private let lock = Mutex<String?>(nil)  // the status line shown, if any
    private let out: Int32
    private let err: Int32
    /// Whether to colour host names (standard output is a terminal and `NO_COLOR` is unset).
    public let colour: Bool
    /// Whether standard error is a terminal (a status line can be shown).
    public let statusCapable: Bool

    /// Writes to `out` and `err` (file descriptors).
    public init(out: Int32 = 1, err: Int32 = 2, colour: Bool? = nil) {
        self.out = out
        self.err = err
        self.colour = colour ?? (isatty(out) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
        statusCapable = isatty(err) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Writes `text` to standard output (`error: false`) or error, whole.
    public func write(_ text: String, error: Bool = false) {
        lock.withLock { status in
            if status != nil { put("\r\u{1B}[K", to: err) }
            put(text, to: error ? err : out)
            if let status { put(status, to: err) }
        }
    }

    /// Shows `line` as the status line (`nil` clears it); only on a terminal.
    public func status(_ line: String?) {
        guard statusCapable else { return }
        lock.withLock { status in
            put("\r\u{1B}[K" + (line ?? ""), to: err)
            status = line
        }
    }

    private func put(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }

    /// `name` coloured for a terminal (a colour per name), or as it is.
    func paint(_ name: String, error: Bool = false) -> String {
        guard colour else { return name }
        if error { return "\u{1B}[31m\(name)\u{1B}[0m" }
        let colours = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96]
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "\u{1B}[\(colours[Int(hash % UInt32(colours.count))])m\(name)\u{1B}[0m"
    }
}

/// A one-line account of a failed host, for standard error: `host: exited with status 3`, or the error.
func failureLine(_ report: HostReport) -> String? {
    if let error = report.error { return "\(report.host): \(error.message)" }
    if let signal = report.signal { return "\(report.host): killed by signal \(signal)" }
    if let status = report.exitStatus, status != 0 { return "\(report.host): exited with status \(status)" }
    return nil
}

/// pdsh's style (the default): each line as it arrives, prefixed with its host; stderr lines on standard error;
/// failures summed up on standard error as each host finishes.
public struct StreamOutput: OutputMode {
    let terminal: Terminal
    let prefixed: Bool
    /// Writes through `terminal`; without `prefixed`, lines come as the hosts sent them (pdsh and clush `-N`).
    public init(terminal: Terminal, prefixed: Bool = true) {
        self.terminal = terminal
        self.prefixed = prefixed
    }
    public var streamsLines: Bool { true }
    public func line(host: String, stream: OutputStream, text: String) {
        terminal.write(prefixed ? "\(terminal.paint(host)): \(text)\n" : "\(text)\n", error: stream == .stderr)
    }
    public func hostFinished(_ report: HostReport) {
        if let line = failureLine(report) { terminal.write("fleetsh: \(line)\n", error: true) }
    }
    public func finish(_ reports: [HostReport]) {}
}

/// pssh `-i`'s style: a block per host when it finishes, `[n] time [SUCCESS|FAILURE] host`, then its output.
public final class BlockOutput: OutputMode {
    let terminal: Terminal
    private let count = Mutex(0)
    /// Writes through `terminal`.
    public init(terminal: Terminal) { self.terminal = terminal }
    public var streamsLines: Bool { false }
    public func line(host: String, stream: OutputStream, text: String) {}
    public func hostFinished(_ report: HostReport) {
        let number = count.withLock { count -> Int in
            count += 1
            return count
        }
        let time = String(report.started.dropFirst(11).prefix(8))
        let ok = report.outcome == .succeeded
        var text = "[\(number)] \(time) [\(ok ? "SUCCESS" : "FAILURE")] \(terminal.paint(report.host, error: !ok))"
        if !ok, let reason = failureLine(report) { text += " " + reason.dropFirst(report.host.count + 2) }
        text += "\n" + report.stdout
        if !report.stdout.isEmpty && !report.stdout.hasSuffix("\n") { text += "\n" }
        if !report.stderr.isEmpty {
            text += "Stderr: " + report.stderr
            if !report.stderr.hasSuffix("\n") { text += "\n" }
        }
        terminal.write(text)
    }
    public func finish(_ reports: [HostReport]) {}
}

/// clush `-L`'s style, at the end: every host's lines prefixed with its name (or not, as `-N`), host after host in
/// the host list's order, whatever order they finished in; stderr lines on standard error; failures as they come.
public struct OrderedOutput: OutputMode {
    let terminal: Terminal
    let prefixed: Bool
    /// The host list's order.
    let order: HostOrder
    /// Writes through `terminal`; `hosts` gives the order.
    public init(terminal: Terminal, hosts: [String], prefixed: Bool = true) {
        self.terminal = terminal
        self.prefixed = prefixed
        order = HostOrder(hosts)
    }
    public var streamsLines: Bool { false }
    public func line(host: String, stream: OutputStream, text: String) {}
    public func hostFinished(_ report: HostReport) {
        if let line = failureLine(report) { terminal.write("fleetsh: \(line)\n", error: true) }
    }
    public func finish(_ reports: [HostReport]) {
        let sorted = order.sorted(reports)
        for report in sorted {
            for (text, isError) in [(report.stdout, false), (report.stderr, true)] where !text.isEmpty {
                let lines =
                    text.hasSuffix("\n")
                    ? text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
                    : text.split(separator: "\n", omittingEmptySubsequences: false)
                for line in lines {
                    terminal.write(prefixed ? "\(terminal.paint(report.host)): \(line)\n" : "\(line)\n", error: isError)
                }
            }
        }
    }
}

/// clush `-b` and dshbak `-c`'s style, at the end: hosts with identical output under one header, their names
/// folded back into node sets; failures grouped the same way on standard error. With `diff` (clush `--diff`), the
/// output most hosts share is the reference and each other group is shown as a unified diff against it.
public struct GroupedOutput: OutputMode {
    let terminal: Terminal
    /// The host list's order, so groups and names come out in it.
    let order: HostOrder
    let diff: Bool
    /// Writes through `terminal`; `hosts` gives the order.
    public init(terminal: Terminal, hosts: [String], diff: Bool = false) {
        self.terminal = terminal
        self.diff = diff
        order = HostOrder(hosts)
    }
    public var streamsLines: Bool { false }
    public func line(host: String, stream: OutputStream, text: String) {}
    public func hostFinished(_ report: HostReport) {}
    public func finish(_ reports: [HostReport]) {
        let sorted = order.sorted(reports)
        var groups: [(output: String, hosts: [String])] = []
        var index: [String: Int] = [:]
        for report in sorted where report.error == nil {
            let output = report.stdout + report.stderr
            if let at = index[output] {
                groups[at].hosts.append(report.host)
            } else {
                index[output] = groups.count
                groups.append((output, [report.host]))
            }
        }
        terminal.write(diff ? differences(groups) : blocks(groups))
        var failures: [(line: String, hosts: [String])] = []
        var failureIndex: [String: Int] = [:]
        for report in sorted {
            let reason: String
            if let error = report.error {
                // The host's name is taken out so that hosts failing alike share a line; it comes back below.
                reason = error.message.replacingOccurrences(of: report.host, with: Self.hostPlaceholder)
            } else if let signal = report.signal {
                reason = "killed by signal \(signal)"
            } else if let status = report.exitStatus, status != 0 {
                reason = "exited with status \(status)"
            } else {
                continue
            }
            if let at = failureIndex[reason] {
                failures[at].hosts.append(report.host)
            } else {
                failureIndex[reason] = failures.count
                failures.append((reason, [report.host]))
            }
        }
        for failure in failures {
            let hosts = NodeSet.fold(failure.hosts)
            let name = failure.hosts.count == 1 ? hosts : "<host>"
            let line = failure.line.replacingOccurrences(of: Self.hostPlaceholder, with: name)
            terminal.write("fleetsh: \(hosts): \(line)\n", error: true)
        }
    }
}

extension GroupedOutput {
    /// Each group under a header naming its hosts.
    fileprivate func blocks(_ groups: [(output: String, hosts: [String])]) -> String {
        var text = ""
        for group in groups {
            let rule = String(repeating: "-", count: 15)
            text += "\(rule)\n\(terminal.paint(Self.name(group.hosts)))\n\(rule)\n\(group.output)"
            if !group.output.isEmpty && !group.output.hasSuffix("\n") { text += "\n" }
        }
        return text
    }

    /// Each group but the reference (the most hosts; the first of those in the host list's order) as a unified diff
    /// against it; nothing when every host printed the same.
    fileprivate func differences(_ groups: [(output: String, hosts: [String])]) -> String {
        guard
            let reference = groups.enumerated().max(by: {
                ($0.element.hosts.count, -$0.offset) < ($1.element.hosts.count, -$1.offset)
            })
        else { return "" }
        let base = Self.lines(reference.element.output)
        var text = ""
        for (offset, group) in groups.enumerated() where offset != reference.offset {
            text += "--- \(Self.name(reference.element.hosts))\n+++ \(Self.name(group.hosts))\n"
            for line in UnifiedDiff.hunks(from: base, to: Self.lines(group.output)) { text += line + "\n" }
        }
        return text
    }

    private static func name(_ hosts: [String]) -> String { "\(NodeSet.fold(hosts)) (\(hosts.count))" }

    private static func lines(_ output: String) -> [Substring] {
        let text = output.hasSuffix("\n") ? output.dropLast() : Substring(output)
        return text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false)
    }
}

/// One JSON object per host, written as it finishes (see ``HostReport``).
public struct JSONLinesOutput: OutputMode {
    let terminal: Terminal
    /// Writes through `terminal`.
    public init(terminal: Terminal) { self.terminal = terminal }
    public var streamsLines: Bool { false }
    public func line(host: String, stream: OutputStream, text: String) {}
    public func hostFinished(_ report: HostReport) { terminal.write(report.jsonLine() + "\n") }
    public func finish(_ reports: [HostReport]) {}
}

/// pssh `-o`/`-e`: each host's stdout and stderr in a file named after it, beside another mode.
public struct FilesOutput: OutputMode {
    let inner: any OutputMode
    let outputDirectory: String?
    let errorDirectory: String?
    let printsFiledLines: Bool
    /// Writes `outdir/host` and `errdir/host` (either may be `nil`) and passes the rest on to `inner`: each host's
    /// report, and the lines of a stream that has no directory (all lines with `printsFiledLines`).
    public init(inner: any OutputMode, outputDirectory: String?, errorDirectory: String?, printsFiledLines: Bool = true)
    {
        self.inner = inner
        self.outputDirectory = outputDirectory
        self.errorDirectory = errorDirectory
        self.printsFiledLines = printsFiledLines
    }
    public var streamsLines: Bool { inner.streamsLines }
    public func line(host: String, stream: OutputStream, text: String) {
        let filed = (stream == .stdout ? outputDirectory : errorDirectory) != nil
        if filed && !printsFiledLines { return }
        inner.line(host: host, stream: stream, text: text)
    }
    public func hostFinished(_ report: HostReport) {
        for (directory, text) in [(outputDirectory, report.stdout), (errorDirectory, report.stderr)] {
            guard let directory else { continue }
            let path = HostFileName.path(in: directory, host: report.host)
            if !FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) {
                FileHandle.standardError.write(
                    Data("fleetsh: cannot write \(path): \(String(cString: strerror(errno)))\n".utf8))
            }
        }
        inner.hostFinished(report)
    }
    public func finish(_ reports: [HostReport]) { inner.finish(reports) }
}

extension GroupedOutput {
    /// Stands for a host's name in a failure line while lines are grouped (a private-use character, never in a
    /// message).
    static let hostPlaceholder = "\u{E000}"
}

/// The host list's order, for modes that print at the end: reports sorted by it (hosts not in it last, by name).
struct HostOrder: Sendable {
    private let positions: [String: Int]

    init(_ hosts: [String]) {
        positions = Dictionary(hosts.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func sorted(_ reports: [HostReport]) -> [HostReport] {
        reports.sorted { (positions[$0.host] ?? Int.max, $0.host) < (positions[$1.host] ?? Int.max, $1.host) }
    }
}
