import SSHBackend

/// Where a bad ssh_config line is: the file and line an `invalidArgument` error of ``SSHConfigResolver`` names
/// (`<file> line <N>: <reason>`, as ssh writes it), and the reason. Such a line is wrong for every host, so a caller
/// can say it once instead of once per host.
public struct SSHConfigLineError: Sendable, Equatable {
    /// The file, or ``commandLine`` for the lines of ``SSHConfigSource/options``.
    public let path: String
    /// The line, counted from 1 (for ``commandLine``, the option's position).
    public let line: Int
    /// What is wrong with it.
    public let reason: String

    /// The name the resolver gives the lines of ``SSHConfigSource/options`` (`ssh -o`).
    public static let commandLine = "command-line"

    /// The place `error` names, or nil when it is not a configuration line's error. The first ` line <N>: ` in the
    /// message ends the path (a file whose own name holds one is misread; the message itself stays whole).
    public init?(_ error: SSHError) {
        guard error.code == .invalidArgument else { return nil }
        var search = error.message[...]
        while let marker = search.firstRange(of: " line ") {
            let rest = search[marker.upperBound...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            if let number = Int(digits), rest.dropFirst(digits.count).hasPrefix(": ") {
                path = String(error.message[..<marker.lowerBound])
                line = number
                reason = String(rest.dropFirst(digits.count + 2))
                return
            }
            search = rest
        }
        return nil
    }
}
