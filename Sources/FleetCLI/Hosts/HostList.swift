import Foundation
import ParallelFrontend
import SSHBackend

/// One entry of the host list: `[user@]host[:port]` (IPv6 as `[addr]:port`), the name as given kept for output.
public struct HostEntry: Sendable, Hashable {
    /// The entry as written (node-set expanded), used in output and in the failed-hosts list.
    public let name: String
    /// The host to connect to (an address, a name or an `ssh_config` alias).
    public let host: String
    /// The entry's user, if it names one.
    public let user: String?
    /// The entry's port, if it names one.
    public let port: Int?

    /// Reads `[user@]host[:port]`.
    /// - Throws: a message naming the entry when it names no host, its port is not a number in 1...65535, or its
    ///   host or user name has a character OpenSSH refuses (a shell would act on it in a `ProxyCommand`).
    public init(_ text: String) throws(HostList.Error) {
        guard let parsed = UserHostPort(text) else {
            throw HostList.Error("'\(text)' is not [user@]host[:port] (with a port in 1...65535)")
        }
        if let problem = SSHNameCheck.hostNameProblem(parsed.host) {
            throw HostList.Error(
                "'\(TerminalText.sanitized(text, keepingLineBreaks: false))': the host name \(problem)")
        }
        if let user = parsed.user, let problem = SSHNameCheck.userNameProblem(user) {
            throw HostList.Error(
                "'\(TerminalText.sanitized(text, keepingLineBreaks: false))': the user name \(problem)")
        }
        name = text
        host = parsed.host
        user = parsed.user
        port = parsed.port
    }

    /// The target for a run: the entry's user and port over the run's settings.
    public var target: HostTarget { HostTarget(host, config: HostConfig(user: user, port: port, alias: name)) }
}

/// The hosts of a run: `-H` sets, hosts files (one entry or node set per line, `#` comments; `-` for stdin),
/// minus `-x` exclusions, duplicates dropped (first wins), then this run's shard.
public enum HostList {
    /// A host list that cannot be read; the message names the file, line or entry.
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        /// What is wrong.
        public let description: String
        /// An error saying `description`.
        public init(_ description: String) { self.description = description }
    }

    /// The entries of `sets` (node-set expressions) and `files` (read in full; `-` is `standardInput`), without
    /// those `exclude` (node sets) names, in order, each once. A part `@name` of a node set is the group `name` of
    /// the groups `groups` loads (called once, when the first group is met), as is each of `groupNames` (`-g`).
    public static func resolve(
        sets: [String], groupNames: [String] = [], files: [String], exclude: [String],
        groups: () throws(Error) -> HostGroups = { () throws(Error) -> HostGroups in
            throw Error("'@' names a group, and no groups file was found")
        },
        standardInput: () -> String = {
            String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
    )
        throws(Error) -> [HostEntry]
    {
        var loaded: HostGroups?
        func expand(_ text: String, origin: String) throws(Error) -> [String] {
            var failure: Error?
            do throws(NodeSet.SyntaxError) {
                return try NodeSet.expand(text) { (group: String) throws(NodeSet.SyntaxError) -> [String] in
                    let current: HostGroups
                    if let loaded {
                        current = loaded
                    } else {
                        do throws(Error) { current = try groups() } catch {
                            failure = error
                            throw NodeSet.SyntaxError(description: error.description)
                        }
                        loaded = current
                    }
                    return try current.hosts(of: group)
                }
            } catch {
                throw failure ?? Error("\(origin): \(error.description)")
            }
        }
        var names: [String] = []
        for set in sets { names += try expand(set, origin: "-H") }
        for group in groupNames { names += try expand("@\(group)", origin: "-g") }
        for file in files {
            let text: String
            if file == "-" {
                text = standardInput()
            } else {
                do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                    throw Error("cannot read the hosts file \(file): \((error as NSError).localizedDescription)")
                }
            }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                var content = Substring(line)
                if let hash = content.firstIndex(of: "#") { content = content[..<hash] }
                let trimmed = String(content).trimmingWhitespace
                guard !trimmed.isEmpty else { continue }
                for word in trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                    names += try expand(String(word), origin: "\(file) line \(number + 1)")
                }
            }
        }
        var excluded = Set<String>()
        for set in exclude { excluded.formUnion(try expand(set, origin: "-x")) }
        var seen = Set<String>()
        var entries: [HostEntry] = []
        for name in names where !excluded.contains(name) && seen.insert(name).inserted {
            entries.append(try HostEntry(name))
        }
        return entries
    }

}
