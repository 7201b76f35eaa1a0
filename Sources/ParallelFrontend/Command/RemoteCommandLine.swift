import Foundation
import SSHBackend

/// How a command is wrapped before it is sent, as parallel-ssh does: `sudo -S` (or `sudo -u <user> -S`), then
/// `<shell> '<command>'`. Unlike parallel-ssh, single quotes inside the command are escaped, so any command
/// survives the wrapping.
struct RemoteCommandLine {
    var sudo = false
    var user: String?
    var shell: String?
    /// sudo's prompt (`sudo -p`), when the client answers it (see ``SudoPrompt``).
    var sudoPrompt: String?

    /// The command actually sent.
    func wrap(_ command: String) -> String {
        guard sudo || user != nil || shell != nil else { return command }
        var prefix = ""
        let prompt = sudoPrompt.map { "-p \(Self.quote($0)) " } ?? ""
        if let user {
            prefix = "sudo -u \(Self.quote(user)) -S \(prompt)"
        } else if sudo {
            prefix = "sudo -S \(prompt)"
        }
        return prefix + (shell ?? "$SHELL -c") + " " + Self.quote(command)
    }

    /// `text` in POSIX shell single quotes.
    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Fills a parallel-ssh style template: each `%s` takes the next argument, `%%` is a literal `%`.
enum CommandTemplate {
    /// - Parameter allowUnused: accept arguments the template does not use (copy paths share one argument list).
    static func fill(
        _ template: String, with arguments: [String], host: String,
        allowUnused: Bool = false
    ) throws(SSHError) -> String {
        var result = ""
        var remaining = arguments[...]
        var iterator = template.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                result.append(character)
                continue
            }
            switch iterator.next() {
            case "%": result.append("%")
            case "s":
                guard let argument = remaining.popFirst() else {
                    throw SSHError(
                        .invalidArgument, host: host, port: 0,
                        message: "the command template has more %s than the \(arguments.count) argument(s) given")
                }
                result.append(argument)
            case let other:
                throw SSHError(
                    .invalidArgument, host: host, port: 0,
                    message: "unsupported placeholder %\(other.map(String.init) ?? "") in the command template")
            }
        }
        guard remaining.isEmpty || allowUnused else {
            throw SSHError(
                .invalidArgument, host: host, port: 0,
                message: "\(remaining.count) argument(s) left over for the command template")
        }
        return result
    }
}
