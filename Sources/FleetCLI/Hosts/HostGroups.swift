import Foundation

/// Named groups of hosts, as clush's `-g name` and `@name` take them: a file of `name: node sets` lines, the format
/// of clush's `groups.d/local.cfg` (`#` comments; a group's node sets may name other groups as `@name`).
public struct HostGroups: Sendable {
    /// The file the groups came from.
    public let file: String
    private let members: [String: String]

    /// Where fleetsh looks for groups when `--groups-file` names none, as clush does: `$CLUSTERSHELL_CFGDIR`
    /// first, then the user's and the system's configuration directories; in each, `groups`, then
    /// `groups.d/local.cfg` (what clush's shipped `groups.conf` maps groups from). The first file that exists is read.
    public static func searchPath(environment: [String: String]) -> [String] {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        var directories = ["\(config)/clustershell", "\(home)/.local/etc/clustershell", "/etc/clustershell"]
        if let own = environment["CLUSTERSHELL_CFGDIR"], !own.isEmpty { directories.insert(own, at: 0) }
        return directories.flatMap { ["\($0)/groups", "\($0)/groups.d/local.cfg"] }
    }

    /// The groups of `file`.
    /// - Throws: a message naming the file when it cannot be read, or the line that is not `name: node sets`.
    public init(file: String) throws(HostList.Error) {
        let text: String
        guard FileManager.default.fileExists(atPath: file) else {
            throw HostList.Error("the groups file \(file): no such file")
        }
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw HostList.Error("cannot read the groups file \(file): \((error as NSError).localizedDescription)")
        }
        try self.init(text: text, file: file)
    }

    /// The groups of `text`, read from `file`.
    public init(text: String, file: String) throws(HostList.Error) {
        self.file = file
        var members: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var content = Substring(line)
            if let hash = content.firstIndex(of: "#") { content = content[..<hash] }
            guard !String(content).trimmingWhitespace.isEmpty else { continue }
            guard let colon = content.firstIndex(of: ":") else {
                throw HostList.Error("\(file) line \(number + 1): not 'name: node sets'")
            }
            let name = String(content[..<colon]).trimmingWhitespace
            let sets = String(content[content.index(after: colon)...]).trimmingWhitespace
            guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" || $0 == "@" }) else {
                throw HostList.Error("\(file) line \(number + 1): '\(name)' is not a group name")
            }
            // As clush (whose map is a sed printing every matching line): a group named twice has both lines' hosts.
            let listed = sets.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: ",")
            members[name] = members[name].map { "\($0),\(listed)" } ?? listed
        }
        self.members = members
    }

    /// The group names, sorted.
    public var names: [String] { members.keys.sorted() }

    /// The hosts of group `name`, its `@` references followed.
    /// - Throws: a message naming the group when it is not in the file, refers to itself, or holds a bad node set.
    public func hosts(of name: String) throws(NodeSet.SyntaxError) -> [String] {
        try hosts(of: name, inside: [])
    }

    private func hosts(of name: String, inside: [String]) throws(NodeSet.SyntaxError) -> [String] {
        guard !name.isEmpty else { throw NodeSet.SyntaxError(description: "a group name is empty") }
        guard let sets = members[name] else {
            throw NodeSet.SyntaxError(description: "no group '\(name)' in \(file)")
        }
        guard !inside.contains(name) else {
            throw NodeSet.SyntaxError(
                description:
                    "group '\(name)' in \(file) contains itself (\((inside + [name]).joined(separator: " > ")))")
        }
        var innerFailed = false
        do throws(NodeSet.SyntaxError) {
            return try NodeSet.expand(sets) { (inner: String) throws(NodeSet.SyntaxError) -> [String] in
                do throws(NodeSet.SyntaxError) { return try hosts(of: inner, inside: inside + [name]) } catch {
                    innerFailed = true
                    throw error
                }
            }
        } catch {
            // A group's own bad node set names the group and the file; an inner group's error says it already.
            if innerFailed { throw error }
            throw NodeSet.SyntaxError(description: "group '\(name)' in \(file): \(error.description)")
        }
    }
}
