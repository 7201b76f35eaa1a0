import ArgumentParser
import FleetCLI
import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig

extension Fleetsh {
    /// `fleetsh run`: the command on every host.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command on every host (the default subcommand).")

        // MARK: Hosts

        @Option(name: [.customShort("H"), .customLong("host")],
                help: "Hosts as [user@]host[:port], node sets allowed (web[01-20],db1); repeatable.")
        var hosts: [String] = []

        @Option(name: [.customShort("f"), .customLong("hosts-file")],
                help: "A file of hosts, one entry or node set per line, # comments; - for stdin. Repeatable.")
        var hostsFiles: [String] = []

        @Option(name: [.customShort("x"), .customLong("exclude")], help: "Hosts (node sets) to leave out; repeatable.")
        var exclude: [String] = []

        @Option(help: "Only this shard of the hosts: k/n (1 <= k <= n), or env (Slurm's array task, or a Kubernetes Indexed Job's index with --shard-count).")
        var shard: String?

        @Option(help: "The number of shards, for --shard env with a Kubernetes Indexed Job.")
        var shardCount: Int?

        @Flag(help: "Print the hosts (after exclusions and sharding) and exit, connecting to nothing.")
        var listHosts = false

        @Flag(help: "With --list-hosts: each host's resolved configuration in ssh -G form.")
        var showConfig = false

        // MARK: Connection

        @Option(name: [.customShort("l"), .customLong("user")], help: "Login user (default: ssh_config, then you).")
        var user: String?

        @Option(name: [.customShort("p"), .customLong("port")], help: "Port (default: ssh_config, then 22).")
        var port: Int?

        @Option(name: [.customShort("i"), .customLong("identity")], help: "A private key file to try first.")
        var identity: String?

        @Option(name: [.customShort("J"), .customLong("jump")], help: "Jump hosts, as ssh -J: [user@]host[:port],...")
        var jump: String?

        @Option(name: [.customShort("F"), .customLong("config")], help: "The ssh_config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (none for none).")
        var configFile: String?

        @Option(name: [.customShort("o"), .customLong("option")], help: "An ssh_config line, as ssh -o takes it (Keyword=value); repeatable.")
        var options: [String] = []

        @Option(help: "The engine: libssh2 or libssh.")
        var engine: String = "libssh2"

        @Flag(help: "Write the keys of hosts not yet known to known_hosts (StrictHostKeyChecking accept-new); changed keys are still refused.")
        var acceptNewHostKeys = false

        @Flag(help: "Do not check host keys at all (a server impersonating a host is not detected).")
        var insecureNoHostKeyCheck = false

        @Option(name: [.customShort("t"), .customLong("timeout")], help: "Seconds for each connection step (0: none; default 60).")
        var timeout: Double?

        @Option(help: "Seconds each host's command may take, connection included (default: no limit).")
        var commandTimeout: Double?

        @Option(help: "Connection attempts per host, the first included (default 3).")
        var attempts: Int?

        @Option(name: [.customShort("P"), .customLong("parallel")], help: "Hosts at once.")
        var parallel: Int = 100

        @Flag(help: "Run the command through sudo.")
        var sudo = false

        @Flag(help: "Ask for a terminal (stderr then comes merged into stdout).")
        var pty = false

        @Flag(name: [.customShort("I"), .customLong("send-input")], help: "Read standard input and send it to every host's command.")
        var sendInput = false

        // MARK: Output

        @Flag(name: [.customShort("b"), .customLong("group")], help: "Group hosts with identical output (clush -b, dshbak -c).")
        var group = false

        @Flag(help: "A block per host as it finishes (pssh -i).")
        var blocks = false

        @Flag(help: "One JSON object per host, as it finishes.")
        var json = false

        @Option(help: "Write each host's stdout to DIR/<host>.")
        var outdir: String?

        @Option(help: "Write each host's stderr to DIR/<host>.")
        var errdir: String?

        @Option(help: "Write the hosts that did not succeed to this file, as a node set the next run takes with -f.")
        var failedHosts: String?

        @Flag(help: "No status line on standard error (shown only when it is a terminal).")
        var noProgress = false

        @Argument(parsing: .captureForPassthrough, help: "The command.")
        var command: [String] = []

        func run() async throws {
            let entries = try hostEntries()
            if listHosts { exitWith(await list(entries)) }
            var words = command
            if words.first == "--" { words.removeFirst() }
            guard !words.isEmpty else { usage("no command given (fleetsh -H hosts -- command)") }
            guard let engineChoice = EngineChoice(rawValue: engine) else { usage("--engine must be libssh2 or libssh, not \(engine)") }
            var settings = RunSettings(command: words.joined(separator: " "))
            settings.engine = engineChoice
            settings.config = try hostConfig()
            guard parallel >= 1 else { usage("--parallel must be at least 1") }
            settings.concurrency = parallel
            if let commandTimeout {
                guard commandTimeout > 0 else { usage("--command-timeout must be positive") }
                settings.commandTimeout = .milliseconds(Int64(commandTimeout * 1000))
            }
            settings.sudo = sudo
            settings.pty = pty ? true : nil
            if sendInput { settings.input = Array(FileHandle.standardInput.readDataToEndOfFile()) }
            let terminal = Terminal()
            var mode: any OutputMode
            if [group, blocks, json].filter({ $0 }).count > 1 { usage("choose one of --group, --blocks, --json") }
            if group {
                mode = GroupedOutput(terminal: terminal, hosts: entries.map(\.name))
            } else if blocks {
                mode = BlockOutput(terminal: terminal)
            } else if json {
                mode = JSONLinesOutput(terminal: terminal)
            } else {
                mode = StreamOutput(terminal: terminal)
            }
            for directory in [outdir, errdir].compactMap({ $0 }) {
                do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                    usage("cannot create \(directory): \(error.localizedDescription)")
                }
            }
            if outdir != nil || errdir != nil { mode = FilesOutput(inner: mode, outputDirectory: outdir, errorDirectory: errdir) }
            let progress = FleetCLI.Progress(total: entries.count)
            let ticker = terminal.statusCapable && !noProgress ? progress.show(on: terminal) : nil
            let output = mode
            let work = Task { try await FleetRun.run(settings, on: entries, output: output, progress: progress) }
            let interrupts = Interrupts(terminal: terminal, progress: progress, work: work)
            let reports = try await work.value
            ticker?.cancel()
            await ticker?.value
            mode.finish(reports)
            if let failedHosts { writeFailed(reports, to: failedHosts) }
            exitWith(interrupts.stopped ? 130 : contractExitCode(for: reports))
        }

        /// The hosts after exclusions and the shard.
        func hostEntries() throws -> [HostEntry] {
            guard !hosts.isEmpty || !hostsFiles.isEmpty else { usage("no hosts: give -H host or -f file") }
            var entries: [HostEntry]
            do {
                entries = try HostList.resolve(sets: hosts, files: hostsFiles, exclude: exclude)
                if let shard {
                    let chosen = shard == "env"
                        ? try Shard.fromEnvironment(ProcessInfo.processInfo.environment, count: shardCount)
                        : try Shard(shard)
                    entries = entries.filter { chosen.contains($0.name) }
                }
            } catch {
                usage(error.description)
            }
            return entries
        }

        /// The settings every host shares, from the flags.
        func hostConfig() throws -> HostConfig {
            var config = HostConfig(user: user, port: port)
            if let port, !(1...65535).contains(port) { usage("--port must be in 1...65535") }
            if let identity { config.privateKey = .file(identity) }
            if let jump { config.jumpHosts = jump.lowercased() == "none" ? [] : jump.split(separator: ",").map(String.init) }
            if let timeout {
                guard timeout >= 0 else { usage("--timeout must not be negative") }
                config.timeout = .milliseconds(Int64(timeout * 1000))
            }
            if let attempts {
                guard attempts >= 1 else { usage("--attempts must be at least 1") }
                config.connectionAttempts = attempts
            }
            if acceptNewHostKeys && insecureNoHostKeyCheck { usage("choose --accept-new-host-keys or --insecure-no-host-key-check") }
            var source: SSHConfigSource = .default
            if let configFile { source = configFile == "none" ? .disabled : .file(configFile) }
            source.options = options
            if acceptNewHostKeys { source.options.insert("StrictHostKeyChecking=accept-new", at: 0) }
            if insecureNoHostKeyCheck { config.hostKeyPolicy = .insecureAcceptAnything }
            config.sshConfig = source
            return config
        }

        /// `--list-hosts`: the names, or each host's `ssh -G` lines.
        func list(_ entries: [HostEntry]) async -> Int32 {
            guard showConfig else {
                for entry in entries { print(entry.name) }
                return 0
            }
            do {
                let config = try hostConfig()
                for entry in entries {
                    var settings = config
                    settings.user = entry.user ?? settings.user
                    settings.port = entry.port ?? settings.port
                    let client = try SSHClient(host: entry.host, backend: EngineChoice.libssh2.backend, config: settings)
                    print("# \(entry.name)")
                    for line in try await client.resolvedConfig()?.sshG ?? [] { print(line) }
                }
            } catch {
                FileHandle.standardError.write(Data("fleetsh: \(error)\n".utf8))
                return 64
            }
            return 0
        }

        func writeFailed(_ reports: [HostReport], to path: String) {
            let failed = reports.filter { $0.outcome != .succeeded }.map(\.host)
            let text = failed.isEmpty ? "" : NodeSet.fold(failed) + "\n"
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                FileHandle.standardError.write(Data("fleetsh: cannot write \(path): \(error.localizedDescription)\n".utf8))
            }
        }
    }
}
