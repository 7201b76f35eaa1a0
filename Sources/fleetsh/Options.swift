import ArgumentParser
import FleetCLI
import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig

/// The hosts of a command: `-H`, `-f`, `-x` and the shard.
struct HostOptions: ParsableArguments {
    @Option(
        name: [.customShort("H"), .customShort("w"), .customLong("host")],
        help: "Hosts as [user@]host[:port], node sets allowed (web[01-20],db1); repeatable. -w as in pdsh and clush.")
    var hosts: [String] = []

    @Option(
        name: [.customShort("f"), .customLong("hosts-file")],
        help: "A file of hosts, one entry or node set per line, # comments; - for stdin. Repeatable.")
    var hostsFiles: [String] = []

    @Option(
        name: [.customShort("g"), .customLong("host-group")],
        help: ArgumentHelp(
            "The hosts of a group (clush -g); repeatable. Node sets take groups as @name too (-H @web,db1, -x @db).",
            discussion: """
                Groups are `name: node sets` lines, as clush's groups and groups.d/local.cfg files write them \
                (# comments; a group may name others as @name; a group on several lines has all their hosts), read \
                from --groups-file, else from the first file clush would read: groups, then groups.d/local.cfg, in \
                $CLUSTERSHELL_CFGDIR, $XDG_CONFIG_HOME/clustershell (~/.config/clustershell), \
                ~/.local/etc/clustershell and /etc/clustershell.
                """,
            valueName: "group"))
    var groups: [String] = []

    @Option(help: "The groups file for -g and @name (default: clush's own files; see -g).")
    var groupsFile: String?

    @Option(name: [.customShort("x"), .customLong("exclude")], help: "Hosts (node sets) to leave out; repeatable.")
    var exclude: [String] = []

    @Option(
        help:
            "Only this shard of the hosts: k/n (1 <= k <= n), or env (Slurm's array task, or a Kubernetes Indexed Job's index with --shard-count)."
    )
    var shard: String?

    @Option(help: "The number of shards, for --shard env with a Kubernetes Indexed Job.")
    var shardCount: Int?

    /// The hosts after exclusions and the shard (a bad list is a usage error).
    func entries() -> [HostEntry] {
        guard !hosts.isEmpty || !hostsFiles.isEmpty || !groups.isEmpty else {
            usage("no hosts: give -H host, -f file or -g group")
        }
        var entries: [HostEntry]
        do {
            entries = try HostList.resolve(
                sets: hosts, groupNames: groups, files: hostsFiles, exclude: exclude,
                groups: { () throws(HostList.Error) -> HostGroups in try loadGroups() })
            if let shard, !entries.isEmpty {
                let chosen =
                    shard == "env"
                    ? try Shard.fromEnvironment(ProcessInfo.processInfo.environment, count: shardCount)
                    : try Shard(shard)
                let all = entries.count
                entries = entries.filter { chosen.contains($0.name) }
                if entries.isEmpty {
                    // Names fall into shards by hash: with few hosts some shards hold none. That shard's job (a
                    // Slurm array task) has nothing to do, which is not a failure.
                    FileHandle.standardError.write(
                        Data("fleetsh: shard \(shard) holds none of the \(all) hosts: nothing to do\n".utf8))
                    return []
                }
            }
        } catch {
            usage(error.description)
        }
        if entries.isEmpty {
            // As pdsh and pssh: a run on nobody is a mistake (an empty file, -x removing everything).
            var sources =
                hosts.map { "-H '\($0)'" } + groups.map { "-g \($0)" }
                + hostsFiles.map { $0 == "-" ? "standard input" : "the file \($0)" }
            if !exclude.isEmpty { sources.append("after -x \(exclude.joined(separator: ","))") }
            usage("no hosts to run on: \(sources.joined(separator: ", ")) named none")
        }
        return entries
    }

    /// The groups of `--groups-file`, else of the first of clush's files that exists.
    private func loadGroups() throws(HostList.Error) -> HostGroups {
        if let groupsFile { return try HostGroups(file: groupsFile) }
        let path = HostGroups.searchPath(environment: ProcessInfo.processInfo.environment)
        guard let found = path.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw HostList.Error(
                "a group was named and there is no groups file: give --groups-file, or write \(path[0])")
        }
        return try HostGroups(file: found)
    }
}

/// How every host is reached: ssh's own flags (`-l`, `-p`, `-i`, `-J`, `-F`, `-o`), the engine, host-key checking,
/// timeouts, attempts and how many hosts at once.
struct ConnectionFlags: ParsableArguments {
    @Option(name: [.customShort("l"), .customLong("user")], help: "Login user (default: ssh_config, then you).")
    var user: String?

    @Option(name: [.customShort("p"), .customLong("port")], help: "Port (default: ssh_config, then 22).")
    var port: Int?

    @Option(name: [.customShort("i"), .customLong("identity")], help: "A private key file to try first.")
    var identity: String?

    @Option(name: [.customShort("J"), .customLong("jump")], help: "Jump hosts, as ssh -J: [user@]host[:port],...")
    var jump: String?

    @Option(
        name: [.customShort("F"), .customLong("config")],
        help: "The ssh_config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (none for none).")
    var configFile: String?

    @Option(
        name: [.customShort("o"), .customLong("option")],
        help: "An ssh_config line, as ssh -o takes it (Keyword=value); repeatable.")
    var options: [String] = []

    @Flag(
        name: .customShort("A"),
        help: "Forward the local SSH agent to the hosts, as ssh -A (libssh engine): git or ssh there use its keys.")
    var forwardAgent = false

    @Flag(name: .customShort("a"), help: "Do not forward the agent, as ssh -a (over ssh_config's ForwardAgent).")
    var noForwardAgent = false

    @Flag(
        name: .customShort("K"),
        help: "Log in with Kerberos tickets (GSSAPI) and delegate them to the hosts, as ssh -K (libssh engine).")
    var gssapiDelegate = false

    @Flag(name: .customShort("k"), help: "Do not delegate Kerberos tickets to the hosts, as ssh -k.")
    var noGSSAPIDelegate = false

    @Option(help: "The engine: libssh (the default: it connects wherever ssh does) or libssh2.")
    var engine: String = "libssh"

    @Flag(
        help:
            "Write the keys of hosts not yet known to known_hosts (StrictHostKeyChecking accept-new); changed keys are still refused."
    )
    var acceptNewHostKeys = false

    @Flag(
        help: ArgumentHelp(
            "Ask for a password once, on the terminal, and try it on every host after the keys (pssh -A).",
            discussion: "-A is ssh's agent forwarding here: fleetsh's connection flags are ssh's."))
    var askPassword = false

    @Flag(help: "Do not check host keys at all (a server impersonating a host is not detected).")
    var insecureNoHostKeyCheck = false

    @Option(
        name: [.customShort("t"), .customLong("timeout")],
        help: ArgumentHelp(
            "Seconds for each connection step of each attempt (0: none; default 60).",
            discussion: """
                Each step (TCP connect, key exchange, authentication) of each attempt has this long, as ssh's \
                ConnectTimeout: a silent host with -t 2 and the default 3 attempts fails after about 16 s. For a \
                deadline on the whole host (pssh's -t), use --command-timeout.
                """))
    var timeout: Double?

    @Option(help: "Connection attempts per host, the first included (default 3).")
    var attempts: Int?

    @Option(name: [.customShort("P"), .customLong("parallel")], help: "Hosts at once.")
    var parallel: Int = 100

    @Flag(
        name: [.customShort("v"), .customLong("verbose")],
        help: ArgumentHelp(
            "Failures with the error's code name and the SSH library's own code and message, not only in words.",
            discussion: """
                Given twice (-vv), also each host's connection attempts, retries and failures as they happen; \
                three times (-vvv), its connections made as well.
                """))
    var verbosity: Int

    /// Whether failures are shown whole (`-v` and up).
    var verbose: Bool { verbosity > 0 }

    /// The engine chosen (a bad name is a usage error).
    func engineChoice() -> EngineChoice {
        guard let choice = EngineChoice(rawValue: engine) else {
            usage("--engine must be libssh2 or libssh, not \(engine)")
        }
        return choice
    }

    /// Reads the configuration once, for the first host, before anything connects: a bad `-o` line or a bad line
    /// in an ssh_config file is wrong for every host, so it is one usage line (ssh stops at it too), not one per
    /// host. Anything else the first host's configuration finds is that host's, reported with it.
    func checkConfiguration(_ config: HostConfig, for entries: [HostEntry]) async {
        guard let first = entries.first, let source = config.sshConfig else { return }
        do {
            _ = try await SSHConfigResolver.shared.resolve(host: first.host, source: source)
        } catch let error as SSHError {
            guard let place = SSHConfigLineError(error) else { return }  // the host's own, reported with it
            guard place.path == SSHConfigLineError.commandLine else { usage(error.message) }
            // Name the -o line itself.
            let line = source.options.indices.contains(place.line - 1) ? source.options[place.line - 1] : "?"
            usage("-o '\(line)': \(place.reason)")
        } catch {
            // The host's own, reported with it.
        }
    }

    /// Hosts at once (at least 1).
    func concurrency() -> Int {
        guard parallel >= 1 else { usage("--parallel must be at least 1") }
        return parallel
    }

    /// The settings every host shares, from the flags.
    func hostConfig() -> HostConfig {
        var config = HostConfig(user: user, port: port)
        if let port, !(1...65535).contains(port) { usage("--port must be in 1...65535") }
        if askPassword {
            guard let password = PasswordPrompt.ask("Password (for every host): ") else {
                usage("--ask-password needs a terminal to ask on")
            }
            config.password = password
        }
        if let identity {
            // One line for a key every host would miss, not one per host.
            let path = NSString(string: identity).expandingTildeInPath
            guard FileManager.default.isReadableFile(atPath: path) else {
                usage(
                    "-i \(identity): \(FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")")
            }
            config.privateKey = .file(identity)
        }
        if let jump {
            config.jump = .hosts(jump.lowercased() == "none" ? [] : jump.split(separator: ",").map(String.init))
        }
        if let timeout {
            guard timeout >= 0 else { usage("--timeout must not be negative") }
            config.timeout = .milliseconds(Int64(timeout * 1000))
        }
        if let attempts {
            guard attempts >= 1 else { usage("--attempts must be at least 1") }
            config.connectionAttempts = attempts
        }
        if acceptNewHostKeys && insecureNoHostKeyCheck {
            usage("choose --accept-new-host-keys or --insecure-no-host-key-check")
        }
        var source: SSHConfigSource = .default
        if let configFile {
            // As `ssh -F missing`, which refuses to run: a configuration that cannot be read is not silently none.
            if configFile != "none" && !FileManager.default.isReadableFile(atPath: configFile) {
                usage(
                    "-F \(configFile): \(FileManager.default.fileExists(atPath: configFile) ? "not readable" : "no such file")"
                )
            }
            source = configFile == "none" ? .disabled : .file(configFile)
        }
        source.options = options
        if acceptNewHostKeys { source.options.insert("StrictHostKeyChecking=accept-new", at: 0) }
        // As ssh's -A and -a.
        if noForwardAgent {
            source.options.insert("ForwardAgent=no", at: 0)
        } else if forwardAgent {
            if engine == "libssh2" {
                usage(
                    "-A: the libssh2 engine cannot carry a forwarded agent (libssh2 1.10 drops the channel the server "
                        + "opens for it); use the default engine, libssh")
            }
            source.options.insert("ForwardAgent=yes", at: 0)
        }
        // As ssh's -K and -k, which set these two keywords ahead of -o's (ssh.c).
        if noGSSAPIDelegate {
            source.options.insert("GSSAPIDelegateCredentials=no", at: 0)
        } else if gssapiDelegate {
            source.options.insert(contentsOf: ["GSSAPIAuthentication=yes", "GSSAPIDelegateCredentials=yes"], at: 0)
        }
        // As `ssh -o StrictHostKeyChecking=no`: the known-hosts files are still read, so a changed key is recognised
        // (password authentication is then dropped, and a warning printed).
        if insecureNoHostKeyCheck { source.options.insert("StrictHostKeyChecking=no", at: 0) }
        config.sshConfig = source
        return config
    }
}
