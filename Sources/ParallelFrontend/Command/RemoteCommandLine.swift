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
