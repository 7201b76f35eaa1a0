import ArgumentParser
import FleetCLI
import Foundation
import Logging
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHFileTransfer

extension Fleetsh {
    /// `fleetsh run`: the command on every host.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command on every host (the default subcommand).")

        @OptionGroup var hostSet: HostOptions
        @Flag(help: "Print the hosts (after exclusions and sharding) and exit, connecting to nothing.")
        var listHosts = false

        @Flag(help: "With --list-hosts: each host's resolved configuration in ssh -G form.")
        var showConfig = false

        @OptionGroup var connection: ConnectionFlags

        @Option(
            help: ArgumentHelp(
                "Seconds each host may take in all, connection and command included (pssh's -t; default: no limit).",
                discussion: """
                    Past it the remote command is ended, as on a second Ctrl-C: sent TERM on the libssh engine (the \
                    default), hung up with --pty; without a PTY on libssh2 it may survive until it next writes.
                    """))
        var commandTimeout: Double?

        @Flag(help: "Run the command through sudo.")
        var sudo = false

        @Flag(help: "Ask for a terminal (stderr then comes merged into stdout).")
        var pty = false

        @Flag(
            name: [.customShort("I"), .customLong("send-input")],
            help: "Read standard input and send it to every host's command.")
        var sendInput = false

        // MARK: Output

        @Flag(
            name: [.customShort("b"), .customLong("group")],
            help: "Group hosts with identical output (clush -b, dshbak -c).")
        var group = false

        @Flag(help: "A block per host as it finishes (pssh -i).")
        var blocks = false

        @Flag(name: .customShort("L"), help: "Every host's lines at the end, in the host list's order (clush -L).")
        var ordered = false

        @Flag(
            help: "At the end, the output most hosts share, and the others as unified diffs against it (clush --diff).")
        var diff = false

        @Flag(
            name: [.customShort("N"), .customLong("no-prefix")],
            help: "Lines without the host's name in front (pdsh and clush -N).")
        var noPrefix = false

        @Flag(help: "One JSON object per host, as it finishes.")
        var json = false

        @Option(
            help: ArgumentHelp(
                "Write each host's stdout to DIR/<host> instead of printing it (as pssh -o).",
                discussion: "With --group, --blocks or --json the output is printed as well."))
        var outdir: String?

        @Option(
            help: ArgumentHelp(
                "Write each host's stderr to DIR/<host> instead of printing it (as pssh -e).",
                discussion: "With --group, --blocks or --json it is printed as well."))
        var errdir: String?

        @Option(help: "Write the hosts that did not succeed to this file, as a node set the next run takes with -f.")
        var failedHosts: String?

        @Flag(help: "No status line on standard error (shown only when it is a terminal).")
        var noProgress = false

        @Argument(parsing: .captureForPassthrough, help: "The command.")
        var command: [String] = []

        func run() async throws {
            // Everything before `--` (or before the command's first word) is fleetsh's: what the parser could not
            // place lands here, and is never sent to the hosts.
            if let first = command.first, first != "--", first.hasPrefix("-") {
                if first == "--help" || first == "-h" {
                    print(Fleetsh.helpMessage(for: Run.self))
                    exitWith(0)
                }
                usage(
                    "unknown option '\(first)' (fleetsh help run lists the options; a command that starts with '-' "
                        + "goes after --)")
            }
            if sendInput && hostSet.hostsFiles.contains("-") {
                usage("-f - and -I both read standard input: give the hosts in a file or with -H")
            }
            let entries = hostSet.entries()
            if listHosts { exitWith(await list(entries)) }
            var words = command
            if words.first == "--" { words.removeFirst() }
            guard !words.isEmpty else { usage("no command given (fleetsh -H hosts -- command)") }
            var settings = RunSettings(command: words.joined(separator: " "))
            settings.engine = connection.engineChoice()
            settings.config = connection.hostConfig()
            await connection.checkConfiguration(settings.config, for: entries)
            settings.concurrency = connection.concurrency()
            settings.verbose = connection.verbose
            if let commandTimeout {
                guard commandTimeout > 0 else { usage("--command-timeout must be positive") }
                settings.commandTimeout = .milliseconds(Int64(commandTimeout * 1000))
            }
            settings.sudo = sudo
            settings.pty = pty ? true : nil
            if noPrefix && (group || blocks || json || diff) { usage("-N changes the line-by-line output only") }
            if [group, blocks, json, ordered, diff].filter({ $0 }).count > 1 {
                usage("choose one of --group, --blocks, --json, -L, --diff")
            }
            if sendInput { settings.input = Array(FileHandle.standardInput.readDataToEndOfFile()) }
            let terminal = Terminal()
            settings.diagnostics = Logger.fleetDiagnostics(verbosity: connection.verbosity, terminal: terminal)
            var mode: any OutputMode
            if group || diff {
                mode = GroupedOutput(terminal: terminal, hosts: entries.map(\.name), diff: diff)
            } else if blocks {
                mode = BlockOutput(terminal: terminal)
            } else if json {
                mode = JSONLinesOutput(terminal: terminal)
            } else if ordered {
                mode = OrderedOutput(terminal: terminal, hosts: entries.map(\.name), prefixed: !noPrefix)
            } else {
                mode = StreamOutput(terminal: terminal, prefixed: !noPrefix)
            }
            for directory in [outdir, errdir].compactMap({ $0 }) {
                do { try await LocalFile.makeDirectories(directory) } catch let error as SSHError {
                    usage(error.message)
                }
            }
            if let outdir, let errdir, let out = realpath(outdir, nil), let err = realpath(errdir, nil) {
                defer {
                    free(out)
                    free(err)
                }
                // pssh writes both to DIR/<host> then, each stream overwriting the other.
                if strcmp(out, err) == 0 {
                    usage("--outdir and --errdir are the same directory: a host's stderr would overwrite its stdout")
                }
            }
            if outdir != nil || errdir != nil {
                // As pssh -o and -e: a stream written to files is not also printed line by line.
                mode = FilesOutput(
                    inner: mode, outputDirectory: outdir, errorDirectory: errdir,
                    printsFiledLines: group || blocks || json || ordered || diff)
            }
            let progress = FleetCLI.Progress(total: entries.count)
            let ticker = terminal.statusCapable && !noProgress ? progress.show(on: terminal) : nil
            let output = mode
            let work = Task { try await FleetRun.run(settings, on: entries, output: output, progress: progress) }
            let interrupts = Interrupts(terminal: terminal, progress: progress, work: work)
            var reports = try await work.value
            ticker?.cancel()
            await ticker?.value
            // A stopped run: every host it never started has a report too, saying so: a JSON line of kind
            // notStarted each, one folded line with --group; the line-by-line modes stay quiet about them.
            for report in HostReport.unstarted(entries.map(\.name), given: reports) {
                if json { mode.hostFinished(report) }
                reports.append(report)
            }
            mode.finish(reports)
            writeFailedHosts(reports, of: entries.map(\.name), to: failedHosts)
            exitWith(interrupts.stopped ? 130 : contractExitCode(for: reports))
        }

        /// `--list-hosts`: the names, or each host's `ssh -G` lines.
        func list(_ entries: [HostEntry]) async -> Int32 {
            guard showConfig else {
                for entry in entries { print(entry.name) }
                return 0
            }
            do {
                let config = connection.hostConfig()
                for entry in entries {
                    var settings = config
                    settings.user = entry.user ?? settings.user
                    settings.port = entry.port ?? settings.port
                    let client = try SSHClient(
                        host: entry.host, backend: EngineChoice.libssh2.backend, config: settings)
                    print("# \(entry.name)")
                    for line in try await client.resolvedConfig()?.sshG ?? [] { print(line) }
                }
            } catch {
                FileHandle.standardError.write(Data("fleetsh: \(error)\n".utf8))
                return 64
            }
            return 0
        }
    }
}
