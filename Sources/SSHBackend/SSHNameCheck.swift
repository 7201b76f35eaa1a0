/// The characters OpenSSH refuses in a host or user name given on the command line before it expands `%h`, `%n`,
/// `%r` or `%k` into a `ProxyCommand`, `Match exec` or similar (its `valid_hostname` and `valid_ruser`, since the
/// fix for CVE-2023-51385). A name that passes cannot make `/bin/sh` run anything; one that fails is refused with
/// ``SSHError/Code/invalidArgument`` naming the character, before anything is expanded or run.
public enum SSHNameCheck {
    /// The characters `valid_hostname` refuses anywhere in a host name (whitespace and control characters aside).
    static let hostForbidden: Set<Unicode.Scalar> = Set("'`\"$\\;&<>|(){},".unicodeScalars)
    /// The characters `valid_ruser` refuses anywhere in a user name (control characters aside).
    static let userForbidden: Set<Unicode.Scalar> = Set("'`\";&<>|(){}".unicodeScalars)

    /// Why `name` may not be used as a host name (a target, a jump hop or an alias), or `nil` when it may.
    public static func hostNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.hasPrefix("-") { return "starts with '-'" }
        for scalar in name.unicodeScalars {
            if hostForbidden.contains(scalar) || isSpace(scalar) || TerminalText.isControl(scalar) {
                return "contains the invalid character \(describe(scalar))"
            }
        }
        return nil
    }

    /// Why `name` may not be used as a remote user name, or `nil` when it may.
    public static func userNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.hasPrefix("-") { return "starts with '-'" }
        let scalars = Array(name.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            if userForbidden.contains(scalar) || TerminalText.isControl(scalar) {
                return "contains the invalid character \(describe(scalar))"
            }
            if isSpace(scalar) && next == "-" { return "has '-' after whitespace" }
            if scalar == "\\" && next == nil { return "ends with a backslash" }
        }
        return nil
    }

    /// Throws unless `name` is a valid host name. `role` says what the name is, e.g. "host name" or "jump host".
    /// - Throws: `invalidArgument` naming the host and the offending character.
    public static func checkHost(_ name: String, role: String = "host name", port: Int? = nil) throws(SSHError) {
        if let problem = hostNameProblem(name) {
            let shown = TerminalText.sanitized(name, keepingLineBreaks: false)
            throw SSHError(
                .invalidArgument, host: shown, port: port,
                message: "the \(role) '\(shown)' \(problem) (refused as OpenSSH refuses it)")
        }
    }

    /// Throws unless `name` is a valid remote user name.
    /// - Throws: `invalidArgument` naming the user, the host it was for and the offending character.
    public static func checkUser(_ name: String, host: String?, port: Int? = nil, role: String = "remote user name")
        throws(SSHError)
    {
        if let problem = userNameProblem(name) {
            let shown = TerminalText.sanitized(name, keepingLineBreaks: false)
            throw SSHError(
                .invalidArgument, host: host, port: port,
                message: "the \(role) '\(shown)' \(problem) (refused as OpenSSH refuses it)")
        }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar == "\u{0B}" || scalar == "\u{0C}"
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar == "\t" { return "'\\t' (a tab)" }
        if TerminalText.isControl(scalar) {
            return "\(TerminalText.sanitized(String(scalar), keepingLineBreaks: false)) (a control character)"
        }
        if isSpace(scalar) { return "' ' (whitespace)" }
        return "'\(scalar)'"
    }
}
