import Foundation

/// How a command runs on a host: through sudo or as another user, in which shell, with a terminal, with which
/// environment, how its text is encoded and how long one read of its output may wait.
///
/// ```swift
/// try await client.runCommand("systemctl restart nginx", options: .init(sudo: true, pty: true))
/// ```
public struct CommandOptions: Sendable {
    /// Run through `sudo -S` (write the password to ``HostOutput/stdin`` if sudo asks, or give ``sudoPassword``).
    public var sudo: Bool
    /// Run as this user (`sudo -u <user> -S`).
    public var user: String?
    /// The shell that runs the command, e.g. `"bash -c"` (default `$SHELL -c` when wrapping).
    public var shell: String?
    /// Allocate a pseudo-terminal (stderr then arrives merged into stdout); `nil`: as ssh_config's `RequestTTY`
    /// says (`yes`/`force`), else none.
    public var pty: Bool?
    /// Variables sent before the command (the server keeps those its `AcceptEnv` allows; what it refuses is noted,
    /// never an error, as with `ssh`).
    public var environment: [String: String]
    /// A deadline for each pass over ``HostOutput/stdout`` or `stderr`; reading again resumes.
    public var readTimeout: Duration?
    /// How the command is encoded, output lines decoded and stdin text encoded.
    public var encoding: String.Encoding
    /// The answer to sudo's password prompt (with ``sudo`` or ``user``): sudo is given a prompt of the client's
    /// (`sudo -p`), and the password is written to stdin only when that prompt arrives, never when sudo does not
    /// ask; the prompt is kept out of the output, and under a PTY sudo has turned echo off by then, so the password
    /// never reaches the output or the host logger.
    public var sudoPassword: String?

    /// Options; each defaults to a plain command in the login shell, no terminal unless ssh_config asks for one.
    public init(
        sudo: Bool = false, user: String? = nil, shell: String? = nil, pty: Bool? = nil,
        environment: [String: String] = [:], readTimeout: Duration? = nil, encoding: String.Encoding = .utf8,
        sudoPassword: String? = nil
    ) {
        (self.sudo, self.user, self.shell, self.pty) = (sudo, user, shell, pty)
        (self.environment, self.readTimeout, self.encoding) = (environment, readTimeout, encoding)
        self.sudoPassword = sudoPassword
    }
}

extension CommandOptions: CustomStringConvertible {
    /// The options that differ from the defaults, the sudo password redacted.
    public var description: String {
        var shown: [String] = []
        if sudo { shown.append("sudo") }
        if let user { shown.append("user: \(user)") }
        if let shell { shown.append("shell: \(shell)") }
        if let pty { shown.append("pty: \(pty)") }
        if !environment.isEmpty { shown.append("environment: \(environment.keys.sorted())") }
        if let readTimeout { shown.append("readTimeout: \(readTimeout)") }
        if encoding != .utf8 { shown.append("encoding: \(encoding)") }
        if sudoPassword != nil { shown.append("sudoPassword: <redacted>") }
        return "CommandOptions(\(shown.joined(separator: ", ")))"
    }
}
