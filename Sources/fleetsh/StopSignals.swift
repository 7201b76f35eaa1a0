@preconcurrency import Dispatch
import Foundation
import SSHFileTransfer

/// SIGTERM and SIGINT during `copy` and `fetch`: the temporary files of downloads in progress are removed before
/// the tool exits (128 + the signal, as a shell reports it), so a stopped fetch leaves no `.part` file behind.
final class StopSignals: @unchecked Sendable {  // the sources are only set up here, and kept alive
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                PartialDownloads.removeAll()
                FileHandle.standardError.write(Data("fleetsh: stopped by signal \(number)\n".utf8))
                exit(128 + number)
            }
            source.resume()
            sources.append(source)
        }
    }
}
