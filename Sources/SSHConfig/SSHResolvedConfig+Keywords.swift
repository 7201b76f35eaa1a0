/// Typed accessors for the keywords the clients act on, each `nil` (or OpenSSH's default) when the files do not set
/// it, so no caller spells a keyword as a string.
extension SSHResolvedConfig {
    /// `StrictHostKeyChecking`'s values.
    public enum StrictHostKeyChecking: Sendable, Equatable {
        /// `yes`: an unknown key is refused.
        case yes
        /// `accept-new`: an unknown key is recorded, a changed one refused.
        case acceptNew
        /// `no` (or `off`): keys are not checked, only compared (a changed key drops passwords).
        case no
        /// `ask` (OpenSSH's default): asks on a terminal; with nobody to ask, as `yes`.
        case ask
    }

    /// `AddressFamily`'s values.
    public enum AddressFamily: Sendable, Equatable {
        /// `any`.
        case any
        /// `inet`: IPv4 only.
        case inet
        /// `inet6`: IPv6 only.
        case inet6
    }

    /// `User`, when the files set it.
    public var configuredUser: String? { value("user") }
    /// `Port`, when the files set it to a number.
    public var configuredPort: Int? { value("port").flatMap(Int.init) }
    /// `ConnectionAttempts`.
    public var connectionAttempts: Int? { value("connectionattempts").flatMap(Int.init) }
    /// `ConnectTimeout` in seconds.
    public var connectTimeout: Int? { seconds("connecttimeout") }
    /// Whether `ServerAliveInterval` is set at all (`0` included).
    public var setsServerAliveInterval: Bool { value("serveraliveinterval") != nil }
    /// `ServerAliveCountMax`.
    public var serverAliveCountMax: Int? { value("serveralivecountmax").flatMap(Int.init) }
    /// `Compression`.
    public var compression: Bool? { flag("compression") }
    /// `AddressFamily`.
    public var addressFamily: AddressFamily? {
        switch value("addressfamily")?.lowercased() {
        case "inet6": .inet6
        case "inet": .inet
        case "any": .any
        default: nil
        }
    }
    /// `StrictHostKeyChecking`.
    public var strictHostKeyChecking: StrictHostKeyChecking? {
        switch value("stricthostkeychecking")?.lowercased() {
        case "accept-new": .acceptNew
        case "no", "off", "false": .no
        case "yes", "true": .yes
        case "ask": .ask
        default: nil
        }
    }
    /// `HostKeyAlias`.
    public var hostKeyAlias: String? { value("hostkeyalias") }
    /// `HashKnownHosts` (default `no`).
    public var hashKnownHosts: Bool { flag("hashknownhosts") ?? false }
    /// Whether `HostKeyAlgorithms` edits OpenSSH's own list (`+` or `-`), after which known key types still come
    /// first.
    public var editsHostKeyAlgorithms: Bool { ["+", "-"].contains(value("hostkeyalgorithms")?.first ?? " ") }
    /// `RequestTTY` is `yes` or `force`.
    public var requestsTTY: Bool { ["yes", "force"].contains(value("requesttty")?.lowercased() ?? "") }
    /// `IdentitiesOnly` (default `no`).
    public var identitiesOnly: Bool { flag("identitiesonly") ?? false }
    /// Whether `IdentityFile` is set (then the default identities are not tried).
    public var setsIdentityFiles: Bool { values["identityfile"] != nil }
    /// `PubkeyAuthentication` (default `yes`).
    public var pubkeyAuthentication: Bool { flag("pubkeyauthentication") ?? true }
    /// `PasswordAuthentication` (default `yes`).
    public var passwordAuthentication: Bool { flag("passwordauthentication") ?? true }
    /// `KbdInteractiveAuthentication` (default `yes`).
    public var kbdInteractiveAuthentication: Bool { flag("kbdinteractiveauthentication") ?? true }
    /// `GSSAPIAuthentication` (`nil` when not set; ssh's default is `no`).
    public var gssapiAuthentication: Bool? { flag("gssapiauthentication") }
    /// `GSSAPIDelegateCredentials` (`nil` when not set; ssh's default is `no`).
    public var gssapiDelegateCredentials: Bool? { flag("gssapidelegatecredentials") }
    /// `GSSAPIServerIdentity`: the host name of the service principal, when not the host's own.
    public var gssapiServerIdentity: String? { value("gssapiserveridentity") }
    /// `GSSAPIClientIdentity`: the client principal to use, when not the default one.
    public var gssapiClientIdentity: String? { value("gssapiclientidentity") }
    /// `ForwardAgent`, verbatim (`yes`, `no`, a socket path or `$VARIABLE`; `nil` when not set, ssh's default
    /// being `no`).
    public var forwardAgent: String? { value("forwardagent") }
    /// `PreferredAuthentications`, in order.
    public var preferredAuthentications: [String]? {
        value("preferredauthentications").map { $0.split(separator: ",").map(String.init) }
    }
    /// `ProxyJump`, verbatim (`none` included).
    public var proxyJump: String? { value("proxyjump") }
    /// `SendEnv`'s patterns, every line's.
    public var sendEnv: [String] { values["sendenv"] ?? [] }
    /// `SetEnv`'s `NAME=value` assignments.
    public var setEnv: [String] { values["setenv"] ?? [] }
}
