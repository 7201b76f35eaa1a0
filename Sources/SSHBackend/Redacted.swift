/// Descriptions that never show a secret: passwords, passphrases and key text print as `<redacted>`, so a
/// configuration or an error can be logged whole.
enum Redacted {
    /// The text printed instead of a secret.
    static let marker = "<redacted>"

    /// `label(name: value, …)` for the fields given (`nil` values left out).
    static func describe(_ label: String, _ fields: KeyValuePairs<String, Any?>) -> String {
        let shown = fields.compactMap { name, value -> String? in
            guard let value = value.flatMap({ $0 }) else { return nil }
            if let text = value as? String { return "\(name): \"\(text)\"" }
            return "\(name): \(value)"
        }
        return "\(label)(\(shown.joined(separator: ", ")))"
    }

    /// `<redacted>` for a secret that is set, `nil` for none.
    static func secret(_ value: String?) -> Any? {
        value.map { _ in RedactedValue() }
    }

    private struct RedactedValue: CustomStringConvertible {
        var description: String { Redacted.marker }
    }
}

extension SSHAuthMethod: CustomStringConvertible, CustomDebugStringConvertible {
    /// The method, with passwords, passphrases and key text redacted.
    public var description: String {
        switch self {
        case .privateKeyFile(let path, let passphrase):
            return Redacted.describe("privateKeyFile", ["path": path, "passphrase": Redacted.secret(passphrase)])
        case .privateKey(let data, let passphrase):
            return Redacted.describe("privateKey", ["key": data, "passphrase": Redacted.secret(passphrase)])
        case .certificate(let keyPath, let certificatePath, let passphrase):
            return Redacted.describe(
                "certificate",
                [
                    "keyPath": keyPath, "certificatePath": certificatePath,
                    "passphrase": Redacted.secret(passphrase),
                ])
        case .agent(let socketPath):
            return Redacted.describe("agent", ["socketPath": socketPath])
        case .defaultIdentities(let directory, let passphrase):
            return Redacted.describe(
                "defaultIdentities",
                [
                    "directory": directory,
                    "passphrase": Redacted.secret(passphrase),
                ])
        case .identityFiles(let files, let passphrase):
            return Redacted.describe("identityFiles", ["files": files, "passphrase": Redacted.secret(passphrase)])
        case .certificateFiles(let files):
            return Redacted.describe("certificateFiles", ["files": files])
        case .password:
            return "password(\(Redacted.marker))"
        case .keyboardInteractive:
            return "keyboardInteractive(<responder>)"
        case .gssapi(let options):
            return Redacted.describe(
                "gssapi",
                [
                    "delegateCredentials": options.delegateCredentials, "serverIdentity": options.serverIdentity,
                    "clientIdentity": options.clientIdentity,
                ])
        }
    }

    public var debugDescription: String { description }
}

extension SSHConnectionOptions: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The options, with every secret of ``authMethods`` (and of the jump hosts) redacted.
    public var description: String {
        Redacted.describe(
            "SSHConnectionOptions",
            [
                "host": host, "port": port, "user": user, "authMethods": authMethods, "connectTimeout": connectTimeout,
                "operationTimeout": operationTimeout, "keepaliveInterval": keepaliveInterval,
                "keepaliveCountMax": keepaliveCountMax, "compression": compression, "addressFamily": addressFamily,
                "proxyCommand": proxyCommand, "jumpHosts": jumpHosts.isEmpty ? nil : jumpHosts,
                "forwardAgent": forwardAgent,
            ])
    }

    public var debugDescription: String { description }

    /// A mirror without the secrets (for `dump`).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "user": user, "authMethods": authMethods.map(\.description),
                "proxyCommand": proxyCommand as Any, "jumpHosts": jumpHosts.map(\.description),
            ])
    }
}
