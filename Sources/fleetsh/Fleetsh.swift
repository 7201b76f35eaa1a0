import ArgumentParser
import FleetCLI
import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig

/// `fleetsh`: run a command on many hosts over SSH, in-process (no `ssh` per host), with grouped, streamed or
/// JSON output, an exit code that tells failures apart, and shards for runs spread over machines.
@main
struct Fleetsh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetsh",
        abstract: "Run a command on many hosts over SSH at once.",
        discussion: """
            Exit codes: 0 every host ran the command (or the copy) and it succeeded; 1 some commands exited \
            non-zero or were killed by a signal, or a copy failed on the host; 2 some hosts could not be reached, refused, failed authentication, timed out or \
            were lost; 3 some hosts failed their host-key check; 64 bad arguments, host list or configuration. \
            When several apply, the highest wins.

            Coming from pssh, pdsh or clush: hosts are -H or -w (node sets allowed) and -f FILE (a hosts file: \
            pdsh's and clush's -f, the fan-out, is -P here, as pssh's -p); -p is the port, -i the identity file \
            and -o an ssh_config line, as in ssh; -t limits each connection step (pssh's -t, the whole host, is \
            --command-timeout); --blocks is pssh -i; -b is clush -b and dshbak -c (fleetsh merge - reads pdsh's \
            lines as dshbak does); -N, -L, --diff and -g (and @group) are clush's; --outdir and --errdir are pssh \
            -o and -e; -I sends standard input, as pssh -I; --ask-password is pssh -A (-A forwards the agent, as ssh -A, and -K \
            delegates Kerberos tickets, as ssh -K). On --command-timeout or a \
            second Ctrl-C the remote command is ended, not left running as those tools leave it. An option \
            fleetsh does not know is refused, never sent to the hosts. README.md has the whole table.
            """,
        version: fleetshVersion,
        subcommands: [Run.self, Copy.self, Fetch.self, Merge.self, KeyScanCommand.self],
        defaultSubcommand: Run.self)
}

/// The package's version (CHANGELOG.md's latest release), printed by `fleetsh --version`.
let fleetshVersion = "0.1.0"

/// Exits with `code` (the contract's), after flushing.
func exitWith(_ code: Int32) -> Never {
    fflush(nil)
    exit(code)
}

/// A usage error: printed with the program's name, exit code 64.
func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fleetsh: \(message)\n".utf8))
    exitWith(64)
}

/// Writes every host that did not succeed to `path` as a node set (empty when all did), the host list of a rerun
/// (`-f path`): those of `reports` that failed, and those of `hosts` (the whole run) with no report at all, which a
/// stopped run never started; a failed write is reported, not fatal.
func writeFailedHosts(_ reports: [HostReport], of hosts: [String]? = nil, to path: String?) {
    guard let path else { return }
    let succeeded = Set(reports.filter { $0.outcome == .succeeded }.map(\.host))
    let failed = (hosts ?? reports.map(\.host)).filter { !succeeded.contains($0) }
    do {
        try (failed.isEmpty ? "" : NodeSet.fold(failed) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        FileHandle.standardError.write(Data("fleetsh: cannot write \(path): \(error.localizedDescription)\n".utf8))
    }
}
