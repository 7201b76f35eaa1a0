import SSHBackend
import SSHConfig
@_spi(Reflection) import Swift
import Testing

@testable import ParallelFrontend

/// `HostConfig`'s one list of fields: what the merge and the description walk is every stored property.
@Suite("HostConfig fields")
struct HostConfigFieldsTests {
    /// Every field set, each to a value other than its default.
    static let full = HostConfig(
        user: "u", port: 2222, password: "pw", privateKey: .file("/k"), alias: "a", connectionAttempts: 5,
        retryDelay: .seconds(7), timeout: .seconds(9), allowAgent: false, identityAuth: false,
        keepalive: .seconds(11), keepaliveCountMax: 4, compression: true, ipv6Only: true, keyboardInteractive: true,
        gssapiAuth: true, gssapi: SSHGSSAPIOptions(delegateCredentials: true), forwardAgent: .on, unreadOutputLimit: 99,
        hostKeyPolicy: SSHHostKeyPolicy(), jump: .hosts(["j"]), sshConfig: .disabled)

    @Test("the list names every stored property of HostConfig, in order")
    func everyStoredProperty() {
        var stored: [String] = []
        _ = _forEachField(of: HostConfig.self) { name, _, _, _ in
            stored.append(String(cString: name))
            return true
        }
        #expect(HostConfig.fields.map(\.name) == stored)
    }

    @Test("merging: every field set wins, every nil field takes the fallback's, and each is printed")
    func merging() {
        let full = Self.full
        #expect(HostConfig().merged(over: full).description == full.description)
        #expect(full.merged(over: HostConfig()).description == full.description)
        #expect(HostConfig(port: 1).merged(over: full).description.contains("port: 1,"))
        for field in HostConfig.fields {
            #expect(
                full.description.contains(" \(field.name): ") || full.description.contains("(\(field.name): "),
                "\(field.name): \(full)")
        }
        #expect(!full.description.contains("pw"), "the password is redacted")
    }
}
