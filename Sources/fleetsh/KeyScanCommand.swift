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

        @Option(name: [.customShort("H"), .customLong("host")], help: "Hosts as [user@]host[:port], node sets allowed.")
        var hosts: [String] = []

        @Option(name: [.customShort("f"), .customLong("hosts-file")], help: "A file of hosts (- for stdin).")
        var hostsFiles: [String] = []

        @Option(name: [.customShort("x"), .customLong("exclude")], help: "Hosts to leave out.")
        var exclude: [String] = []

        @Option(name: [.customShort("p"), .customLong("port")], help: "Port (default: ssh_config, then 22).")
        var port: Int?

        @Option(name: [.customShort("J"), .customLong("jump")], help: "Jump hosts, as ssh -J.")
        var jump: String?

        @Option(name: [.customShort("F"), .customLong("config")], help: "The ssh_config file (none for none).")
        var configFile: String?

        @Option(name: [.customShort("o"), .customLong("option")], help: "An ssh_config line (Keyword=value).")
        var options: [String] = []

        @Option(help: "The engine: libssh2 or libssh.")
        var engine: String = "libssh2"

        @Option(name: [.customShort("P"), .customLong("parallel")], help: "Hosts at once.")
        var parallel: Int = 100

        @Flag(help: "Write the new keys without asking.")
        var accept = false

        func run() async throws {
            guard !hosts.isEmpty || !hostsFiles.isEmpty else { usage("no hosts: give -H host or -f file") }
            guard let choice = EngineChoice(rawValue: engine) else { usage("--engine must be libssh2 or libssh, not \(engine)") }
            let entries: [HostEntry]
            do { entries = try HostList.resolve(sets: hosts, files: hostsFiles, exclude: exclude) } catch { usage(error.description) }
            var config = HostConfig(port: port)
            if let jump { config.jumpHosts = jump.split(separator: ",").map(String.init) }
            var source: SSHConfigSource = .default
            if let configFile { source = configFile == "none" ? .disabled : .file(configFile) }
            source.options = options
            config.sshConfig = source
            let findings = try await KeyScan.scan(entries, config: config, engine: choice, concurrency: max(1, parallel))
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
                    terminal.write("fleetsh: \(finding.name): \(error)\n", error: true)
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
                    for finding in fresh {
                        do { try await KeyScan.trust(finding) } catch {
                            terminal.write("fleetsh: \(finding.name): \(error)\n", error: true)
                            untrusted = true
                        }
                    }
                    terminal.write("fleetsh: wrote \(fresh.count) host key(s) to \(files)\n", error: true)
                } else {
                    terminal.write("fleetsh: \(fresh.count) new host key(s) not written (--accept writes them)\n", error: true)
                    untrusted = true
                }
            }
            exitWith(untrusted ? 3 : unreachable ? 2 : 0)
        }
    }
}
