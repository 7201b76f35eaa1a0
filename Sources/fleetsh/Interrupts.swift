@preconcurrency import Dispatch
import FleetCLI
import Foundation
import Synchronization

/// Ctrl-C during a run: the first prints which hosts are still running (they go on); the second stops them (they
/// end as `cancelled`, and the tool exits 130).
final class Interrupts: @unchecked Sendable {  // the source is only set up here, and kept alive
    private final class Count: Sendable { let value = Atomic(0) }
    private let source: any DispatchSourceSignal
    private let count = Count()

    init(terminal: Terminal, progress: FleetCLI.Progress, work: Task<[HostReport], any Error>) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let count = self.count
        source.setEventHandler { [count] in
            let seen = count.value.add(1, ordering: .relaxed).newValue
            if seen == 1 {
                let running = progress.running.sorted()
                let names = running.isEmpty ? "none" : NodeSet.fold(running)
                terminal.write(
                    "fleetsh: still running on \(running.count) host(s): \(names) (Ctrl-C again to stop them)\n",
                    error: true)
            } else {
                terminal.write("fleetsh: stopping\n", error: true)
                work.cancel()
            }
        }
        source.resume()
    }

    /// Whether a second Ctrl-C stopped the run.
    var stopped: Bool { count.value.load(ordering: .relaxed) >= 2 }
}
