import SSHBackend

/// How a host is reached through jump hosts, when not directly (or as `ssh_config`'s `ProxyJump` and
/// `ProxyCommand` say).
///
/// ```swift
/// HostConfig(jump: .hosts(["admin@bastion:2222"]))                               // ssh -J
/// HostConfig(jump: .proxy(host: "bastion", user: "admin", privateKey: .file("~/.ssh/bastion")))  // parallel-ssh
/// ```
public enum JumpRoute: Sendable {
    /// Jump hosts in order, as `ssh -J` takes them: `[user@]host[:port]` each (the first reached directly, each
    /// next one through the hops before it, the host through the last). Each hop is verified under its own name
    /// and takes its user, port and other settings from its own `ssh_config` entry, never the host's credentials.
    /// Overrides `ssh_config`'s `ProxyJump` and `ProxyCommand`; `[]` for none. Hosts behind the same hop share one
    /// connection to it.
    case hosts([String])
    /// parallel-ssh's `proxy_host`: one jump host with settings of its own, each falling back as parallel-ssh does:
    /// `port` to the hop's `ssh_config` `Port`, else the host's port; `user`, `password` and `privateKey` to the
    /// host's.
    case proxy(
        host: String, port: Int? = nil, user: String? = nil, password: String? = nil, privateKey: PrivateKey? = nil)
}

extension JumpRoute: CustomStringConvertible, CustomReflectable {
    /// The route, with the proxy's password and key secrets redacted.
    public var description: String {
        switch self {
        case .hosts(let hops): return "hosts(\(hops))"
        case .proxy(let host, let port, let user, let password, let privateKey):
            var fields = ["host: \(host)"]
            if let port { fields.append("port: \(port)") }
            if let user { fields.append("user: \(user)") }
            if password != nil { fields.append("password: <redacted>") }
            if let privateKey { fields.append("privateKey: \(privateKey)") }
            return "proxy(\(fields.joined(separator: ", ")))"
        }
    }

    /// A mirror without the secrets (for `dump`).
    public var customMirror: Mirror { Mirror(self, children: ["route": description]) }
}
