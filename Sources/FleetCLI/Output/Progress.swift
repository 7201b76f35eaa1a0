import Foundation
import Synchronization

/// The run's counts (hosts done, succeeded, failed, running) and the hosts running now, for the status line and for
/// what an interrupt reports.
public final class Progress: Sendable {
    private struct Counts {
        var started = 0
        var succeeded = 0
        var failed = 0
        var running = Set<String>()
        var bytes: Int64 = 0
        var countsBytes = false
    }

    private let counts = Mutex(Counts())
    private let total: Int
    private let began = ContinuousClock.now

    /// Progress over `total` hosts.
    public init(total: Int) { self.total = total }

    /// A host started.
    public func started(_ host: String) {
        counts.withLock { counts in
            counts.started += 1
            counts.running.insert(host)
        }
    }

    /// A host finished.
    public func finished(_ report: HostReport) {
        counts.withLock { counts in
            counts.running.remove(report.host)
            if report.outcome == .succeeded { counts.succeeded += 1 } else { counts.failed += 1 }
        }
    }

    /// `count` more bytes copied (copies show bytes and a rate).
    public func copied(_ count: Int64) {
        counts.withLock { counts in
            counts.bytes += count
            counts.countsBytes = true
        }
    }

    /// The hosts running now.
    public var running: [String] { counts.withLock { Array($0.running) } }

    /// `done 40/100  ok 38  failed 2  running 50  12.3/s  ETA 5s` (with `210.5 MB  80.2 MB/s` for copies).
    public var line: String {
        let (done, ok, failed, running, bytes, countsBytes) = counts.withLock {
            ($0.succeeded + $0.failed, $0.succeeded, $0.failed, $0.running.count, $0.bytes, $0.countsBytes)
        }
        let elapsed = max(0.001, (ContinuousClock.now - began).seconds)
        let rate = Double(done) / elapsed
        var text =
            "done \(done)/\(total)  ok \(ok)  failed \(failed)  running \(running)  \(String(format: "%.1f", rate))/s"
        if countsBytes {
            text += String(format: "  %.1f MB  %.1f MB/s", Double(bytes) / 1e6, Double(bytes) / 1e6 / elapsed)
        }
        if done > 0 && done < total { text += "  ETA \(Int((Double(total - done) / rate).rounded(.up)))s" }
        return text
    }

    /// Draws the line on `terminal` every `interval` until the returned task is cancelled (which clears it).
    public func show(on terminal: Terminal, every interval: Duration = .milliseconds(200)) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                terminal.status(line)
                try? await Task.sleep(for: interval)
            }
            terminal.status(nil)
        }
    }
}
