import Foundation
import SSHBackend

/// One line of an `ssh_config` file that says something: its keyword (lowercase), its arguments as OpenSSH
/// splits them, and the rest of the line as written (for command keywords).
struct ConfigLine: Sendable {
    let number: Int
    let keyword: String
    let arguments: [String]
    let rest: String
}

/// A parsed `ssh_config` file.
struct ConfigFile: Sendable {
    let path: String
    let lines: [ConfigLine]

    /// Splits `text` as OpenSSH 9.2's `readconf.c` does: the keyword (case-insensitive) ends at whitespace or one
    /// `=`; the arguments are split on blanks, with double or single quotes grouping and `\` escaping quotes,
    /// backslash and space; `#` at the start of a word ends the line. Lexical errors name file:line.
    init(path: String, text: String) throws(SSHError) {
        self.path = path
        var lines: [ConfigLine] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = Substring(raw)
            while let last = line.last, last == " " || last == "\t" || last == "\r" || last == "\u{0C}" {
                line.removeLast()
            }
            line = line.drop { $0 == " " || $0 == "\t" }
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let keywordEnd = line.firstIndex { $0 == " " || $0 == "\t" || $0 == "=" } ?? line.endIndex
            let keyword = line[..<keywordEnd].lowercased()
            var rest = line[keywordEnd...].drop { $0 == " " || $0 == "\t" }
            if rest.hasPrefix("=") { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
            guard !rest.isEmpty else {
                throw Self.error(path, number, "no argument after keyword \"\(keyword)\"")
            }
            guard let arguments = Self.split(rest) else { throw Self.error(path, number, "invalid quotes") }
            let parsed = ConfigLine(number: number, keyword: keyword, arguments: arguments, rest: String(rest))
            // Values are checked on every line, active or not, as OpenSSH does: once, here.
            try Evaluation.validate(parsed, at: "\(path) line \(number)")
            lines.append(parsed)
        }
        self.lines = lines
    }

    /// OpenSSH's `argv_split` with comments ending the line; `nil` for an unterminated quote.
    static func split(_ text: Substring) -> [String]? {
        var arguments: [String] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == " " || character == "\t" {
                index += 1
                continue
            }
            if character == "#" { break }
            var argument = ""
            var quote: Character?
            while index < characters.count {
                let current = characters[index]
                if current == "\\", index + 1 < characters.count {
                    let next = characters[index + 1]
                    if next == "'" || next == "\"" || next == "\\" || (quote == nil && next == " ") {
                        argument.append(next)
                        index += 2
                        continue
                    }
                    argument.append(current)
                } else if quote == nil && (current == " " || current == "\t") {
                    break
                } else if quote == nil && (current == "\"" || current == "'") {
                    quote = current
                } else if let open = quote, current == open {
                    quote = nil
                } else {
                    argument.append(current)
                }
                index += 1
            }
            if quote != nil { return nil }
            arguments.append(argument)
        }
        return arguments
    }

    static func error(_ path: String, _ line: Int, _ message: String) -> SSHError {
        SSHError(.invalidArgument, message: "\(path) line \(line): \(message)")
    }
}
