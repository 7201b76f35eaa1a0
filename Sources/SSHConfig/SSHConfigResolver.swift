import Foundation
import SSHBackend
import SSHEventLoop
import Synchronization

/// Evaluates `ssh_config` for a host as OpenSSH 9.2's `readconf.c` does: the user file then the system file,
/// `Host` and `Match` blocks, `Include`, first value wins. Files are read and parsed on the blocking pool and
/// kept, like each evaluation of a (host, user, port, files), for a second: a run over many hosts reads them
/// once, and a changed file is seen a second later.
public final class SSHConfigResolver: Sendable {
    /// The resolver clients use.
    public static let shared = SSHConfigResolver()

    private struct Key: Hashable {
        let host: String
        let user: String?
        let port: Int?
        let source: SSHConfigSource
    }

    private struct CachedFile {
        let file: ConfigFile?
        let checked: ContinuousClock.Instant
    }

    private let files = Mutex<[String: CachedFile]>([:])
    private let results = Mutex<[Key: (config: SSHResolvedConfig, made: ContinuousClock.Instant)]>([:])
    private let execResults = Mutex<[String: Bool]>([:])
    private let globs = Mutex<[String: (paths: [String], checked: ContinuousClock.Instant)]>([:])

    /// How long a `Match exec` command may run. OpenSSH waits for it however long it takes; a parallel run cannot
    /// let one hung command hold every host, so past this the command is killed and the host fails, naming it.
    package let matchExecTimeout: Duration

    /// Creates a resolver with its own caches.
    public init() { matchExecTimeout = .seconds(30) }

    /// Creates a resolver whose `Match exec` commands may run `matchExecTimeout` (for tests).
    package init(matchExecTimeout: Duration) { self.matchExecTimeout = matchExecTimeout }

    /// The configuration for `host` as typed (an alias or a name), with the caller's explicit `user` and `port`
    /// winning as `ssh -l`/`-p` do.
    /// - Throws: `SSHError` with code `invalidArgument` naming file and line for a bad line, an unknown keyword,
    ///   bad quotes, a bad value, an unsafe user file, or a token that cannot be expanded; and before any file is
    ///   read, for a host or user name with a character OpenSSH refuses (see `SSHNameCheck`), since either may be
    ///   expanded into a `ProxyCommand` or `Match exec` that a shell runs.
    public func resolve(
        host: String, user: String? = nil, port: Int? = nil,
        source: SSHConfigSource = .default
    ) async throws -> SSHResolvedConfig {
        try SSHNameCheck.checkHost(host, port: port)
        if let user { try SSHNameCheck.checkUser(user, host: host, port: port) }
        let key = Key(host: host, user: user, port: port, source: source)
        if let cached = results.withLock({ $0[key] }), ContinuousClock.now - cached.made < .seconds(1) {
            return cached.config
        }
        var evaluation = Evaluation(originalHost: host, local: .current)
        if let user { evaluation.record("user", [user], origin: "the caller") }
        if let port { evaluation.record("port", [String(port)], origin: "the caller") }
        for pass in [false, true] {
            if pass && !evaluation.wantsFinalPass { break }
            evaluation.finalPass = pass
            if !source.options.isEmpty {
                let place = SSHConfigLineError.commandLine
                let options = try ConfigFile(path: place, text: source.options.joined(separator: "\n"))
                try await apply(options, path: place, userFile: true, depth: 0, active: true, into: &evaluation)
            }
            if let userFile = source.userFile {
                try await apply(ConfigTokens.tilde(userFile), userFile: true, depth: 0, active: true, into: &evaluation)
            }
            if let systemFile = source.systemFile {
                try await apply(systemFile, userFile: false, depth: 0, active: true, into: &evaluation)
            }
        }
        let resolved = try evaluation.resolved()
        results.withLock { $0[key] = (resolved, .now) }
        return resolved
    }

    /// Applies one file (missing: nothing), with `active` as the activity it starts with (an Include in an
    /// inactive block never matches).
    private func apply(
        _ path: String, userFile: Bool, depth: Int, active startActive: Bool,
        into evaluation: inout Evaluation
    ) async throws {
        guard let file = try await load(path, checkPermissions: userFile) else { return }
        try await apply(file, path: path, userFile: userFile, depth: depth, active: startActive, into: &evaluation)
    }

    /// Applies the lines of `file` (read from `path`).
    private func apply(
        _ file: ConfigFile, path: String, userFile: Bool, depth: Int, active startActive: Bool,
        into evaluation: inout Evaluation
    ) async throws {
        var active = true
        let neverMatch = !startActive
        for line in file.lines {
            var location: String { "\(path) line \(line.number)" }
            switch line.keyword {
            case "host":
                active = !neverMatch && evaluation.matchesHost(line.arguments)
            case "match":
                let holds = try await matches(line.arguments, at: location, evaluation: &evaluation)
                active = !neverMatch && holds
            case "include":
                guard depth < 16 else {
                    throw SSHError(.invalidArgument, message: "\(location): Include nested too deeply")
                }
                for pattern in line.arguments {
                    if !userFile && pattern.hasPrefix("~") {
                        throw SSHError(
                            .invalidArgument, message: "\(location): tilde expansion not supported for system files")
                    }
                    var expanded = userFile ? ConfigTokens.tilde(pattern) : pattern
                    if !expanded.hasPrefix("/") {
                        expanded = (userFile ? ConfigTokens.tilde("~/.ssh/") : "/etc/ssh/") + expanded
                    }
                    for included in await glob(expanded) {
                        try await apply(
                            included, userFile: userFile, depth: depth + 1, active: active && !neverMatch,
                            into: &evaluation)
                    }
                }
            case "ignoreunknown":
                if active && evaluation.ignoreUnknown == nil {
                    evaluation.ignoreUnknown = line.arguments.joined(separator: ",")
                }
            default:
                guard ConfigKeywords.known.contains(line.keyword) else {
                    if let ignored = evaluation.ignoreUnknown,
                        SSHPattern.matchList(line.keyword, ignored, lowercase: true) == 1
                    {
                        continue
                    }
                    throw SSHError(.invalidArgument, message: "\(location): Bad configuration option: \(line.keyword)")
                }
                if active && !neverMatch { evaluation.apply(line, origin: "\(path):\(line.number)") }
            }
        }
    }

    /// OpenSSH's `match_cfg_line`: every criterion must hold; `!` negates one; `exec` runs only while the line
    /// still holds.
    private func matches(_ arguments: [String], at location: String, evaluation: inout Evaluation) async throws -> Bool
    {
        var result = true
        var index = 0
        while index < arguments.count {
            var criterion = arguments[index].lowercased()
            index += 1
            let negated = criterion.hasPrefix("!")
            if negated { criterion.removeFirst() }
            switch criterion {
            case "all":
                if negated { result = false }
            case "canonical":
                if !negated { result = false }  // hosts are never canonicalised here
            case "final":
                evaluation.wantsFinalPass = true
                if evaluation.finalPass == negated { result = false }
            case "host", "originalhost", "user", "localuser", "exec":
                guard index < arguments.count else {
                    throw SSHError(.invalidArgument, message: "\(location): Missing Match criteria for \(criterion)")
                }
                let value = arguments[index]
                index += 1
                let holds: Bool
                switch criterion {
                case "host": holds = SSHPattern.matchList(evaluation.hostForMatch, value, lowercase: true) == 1
                case "originalhost": holds = SSHPattern.matchList(evaluation.originalHost, value, lowercase: true) == 1
                case "user": holds = SSHPattern.matchList(evaluation.userForMatch, value, lowercase: false) == 1
                case "localuser": holds = SSHPattern.matchList(evaluation.local.user, value, lowercase: false) == 1
                default:
                    guard result else { continue }  // skipped once the line already failed, as OpenSSH does
                    let command = try evaluation.tokens.percent(value, at: location)
                    holds = try await runExec(command, location: location)
                }
                if holds == negated { result = false }
            default:
                throw SSHError(.invalidArgument, message: "\(location): Unsupported Match attribute \(criterion)")
            }
        }
        return result
    }

    /// Runs a `Match exec` command once per process (its exit status decides), on the child-process pool, under
    /// ``matchExecTimeout`` (30 s).
    private func runExec(_ command: String, location: String) async throws -> Bool {
        if let known = execResults.withLock({ $0[command] }) { return known }
        let limit = matchExecTimeout
        let outcome = await BlockingPool.processes.run { ChildProcess.runShell(command, timeout: limit) }
        if outcome == .timedOut {
            throw SSHError(
                .invalidArgument,
                message: "\(location): Match exec command '\(command)' ran longer than \(limit) "
                    + "and was killed")
        }
        let holds = outcome == .exited(0)
        execResults.withLock { $0[command] = holds }
        return holds
    }

    /// A file, parsed (cached; re-checked at most once a second); `nil` when it does not exist.
    private func load(_ path: String, checkPermissions: Bool) async throws -> ConfigFile? {
        if let cached = files.withLock({ $0[path] }), ContinuousClock.now - cached.checked < .seconds(1) {
            return cached.file
        }
        // Parsed again after a second: cheap next to connecting, and a changed file is never missed for long.
        let file = try await BlockingPool.files.run { () throws(SSHError) -> ConfigFile? in
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            if checkPermissions && ((info.st_uid != 0 && info.st_uid != getuid()) || info.st_mode & 0o022 != 0) {
                throw SSHError(.invalidArgument, message: "Bad owner or permissions on \(path)")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SSHError(.invalidArgument, message: "cannot read \(path)")
            }
            return try ConfigFile(path: path, text: String(decoding: data, as: UTF8.self))
        }
        files.withLock { $0[path] = CachedFile(file: file, checked: .now) }
        return file
    }

    /// The files `pattern` names (kept for a second, like the files themselves).
    private func glob(_ pattern: String) async -> [String] {
        if let cached = globs.withLock({ $0[pattern] }), ContinuousClock.now - cached.checked < .seconds(1) {
            return cached.paths
        }
        let paths = await BlockingPool.files.run { Self.glob(pattern) }
        globs.withLock { $0[pattern] = (paths, .now) }
        return paths
    }

    /// The files `pattern` names, sorted, as `glob(3)` finds them.
    private static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
    }
}
