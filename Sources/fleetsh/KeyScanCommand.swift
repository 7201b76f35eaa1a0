import ArgumentParser
import FleetCLI
import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig

extension Fleetsh {
    /// `fleetsh keyscan`: the trust step.
    struct KeyScanCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keyscan",
            abstract: "Show the host keys of a host set against known_hosts; write the new ones when told to.",
            discussion: """
                Each host's key is fetched without authenticating, shown with its SHA256 fingerprint and its \
                status (known, new, CHANGED, REVOKED) against the known-hosts files its ssh_config names. New keys \
                are written to the first UserKnownHostsFile with --accept, or after a yes on a terminal; changed and \
                revoked keys never are. Exit code: 0 when every key is known or was written, 2 when a host could \
                not be reached, 3 when a key is left untrusted, changed or revoked.
                """)

        @OptionGroup var hostSet: HostOptions
        @OptionGroup var connection: ConnectionFlags

        @Flag(help: "Write the new keys without asking.")
        var accept = false

        func run() async throws {
            let entries = hostSet.entries()
            let config = connection.hostConfig()
            await connection.checkConfiguration(config, for: entries)
            let findings = try await KeyScan.scan(
                entries, config: config, engine: connection.engineChoice(),
                concurrency: connection.concurrency())
            let terminal = Terminal()
            var untrusted = false
            var unreachable = false
            var fresh: [KeyScan.Finding] = []
            for finding in findings {
                switch finding.result {
                case .success(let found):
                    terminal.write((finding.line ?? finding.name) + "\n")
                    if found.status == .new { fresh.append(finding) }
                    if found.status == .changed || found.status == .revoked { untrusted = true }
                case .failure(let error):
                    // In words, as a run's failures are; whole with -v.
                    let failure = HostReport.Failure(error, entry: finding.name, verbose: connection.verbose)
                    terminal.write("fleetsh: \(finding.name): \(failure.message)\n", error: true)
                    unreachable = true
                }
            }
            if !fresh.isEmpty {
                let files = Set(fresh.compactMap(\.file)).sorted().joined(separator: ", ")
                var write = accept
                if !accept && isatty(0) == 1 && isatty(2) == 1 {
                    terminal.write("Write \(fresh.count) new host key(s) to \(files)? [y/N] ", error: true)
                    write = ["y", "yes"].contains(readLine()?.lowercased() ?? "")
                }
                if write {
                    var written = 0
                    for finding in fresh {
                        do {
                            try await KeyScan.trust(finding)
                            written += 1
                        } catch {
                            terminal.write("fleetsh: \(finding.name): \(error)\n", error: true)
                            untrusted = true
                        }
                    }
                    if written > 0 {
                        terminal.write(
                            "fleetsh: wrote \(written) of \(fresh.count) host key(s) to \(files)\n", error: true)
                    }
                } else {
                    terminal.write(
                        "fleetsh: \(fresh.count) new host key(s) not written (--accept writes them)\n", error: true)
                    untrusted = true
                }
            }
            exitWith(untrusted ? 3 : unreachable ? 2 : 0)
        }
    }
}
