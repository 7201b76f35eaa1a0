import Foundation
import SSHBackend

/// Whether a host gets the local SSH agent forwarded, as `ssh -A` and ssh_config's `ForwardAgent` say: commands
/// and shells there see an `SSH_AUTH_SOCK` reaching this agent (a `git pull` or a further `ssh` from the host
/// authenticates with it). Needs an engine with `SSHCapability.agentForwarding` (libssh).
public enum AgentForwarding: Sendable, Hashable {
    /// Not forwarded (the default, as ssh's).
    case off
    /// The agent of the `SSH_AUTH_SOCK` environment variable (`ForwardAgent yes`).
    case on
    /// The agent listening at this socket path; `~` is expanded, and a `$NAME` names an environment variable
    /// holding the path (`ForwardAgent /path` or `ForwardAgent $VARIABLE`).
    case socket(String)

    /// ssh_config's `ForwardAgent` value as ssh reads it: `yes`, `no`, or a socket path or `$VARIABLE`.
    init(configValue value: String) {
        switch value.lowercased() {
        case "yes", "true": self = .on
        case "no", "false": self = .off
        default: self = .socket(value)
        }
    }

    /// The local socket to forward, or `nil` (off, or an environment variable that is not set, which ssh too
    /// leaves unforwarded).
    var socketPath: String? {
        let environment = ProcessInfo.processInfo.environment
        switch self {
        case .off: return nil
        case .on: return environment["SSH_AUTH_SOCK"].flatMap { $0.isEmpty ? nil : $0 }
        case .socket(let path):
            if path.hasPrefix("$") { return environment[String(path.dropFirst())].flatMap { $0.isEmpty ? nil : $0 } }
            return expandTilde(path)
        }
    }
}
