import Foundation
import SSHBackend
import SSHEngineCore
import SSHPrivateKeys
import SSHTestSupport
import Testing

/// The authentication plan both engines follow: what is tried, in which order, and the error that sums it up.
@Suite("Authentication plan")
struct AuthPlanTests {
    @Test("a user certificate certifies its own key and no other, for each key type (ssh-keygen -s makes them)")
    func certifiedKeys() throws {
        let dir = try scratchDirectory("certified-keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = TestKeys.shared
        var certificates: [String: [UInt8]] = [:]
        for (name, key) in [("ed25519", keys.ed25519), ("ecdsa", keys.ecdsa), ("rsa", keys.rsa)] {
            try FileManager.default.copyItem(atPath: key + ".pub", toPath: "\(dir)/\(name).pub")
            try ProcessRunner.run([
                "/usr/bin/ssh-keygen", "-q", "-s", keys.userCA, "-I", name, "-n", "someone", "\(dir)/\(name).pub",
            ])
            certificates[name] = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)-cert.pub")))
        }
        for (name, key) in [("ed25519", keys.ed25519), ("ecdsa", keys.ecdsa), ("rsa", keys.rsa)] {
            let privateFile = Array(try Data(contentsOf: URL(fileURLWithPath: key)))
            let publicFile = Array(try Data(contentsOf: URL(fileURLWithPath: key + ".pub")))
            // From the private key's public section, and from the .pub line alone: the same blob.
            let blob = try #require(CertifiedKey.publicKeyBlob(privateKeyFile: privateFile, publicKeyFile: nil))
            #expect(CertifiedKey.publicKeyBlob(privateKeyFile: nil, publicKeyFile: publicFile) == blob)
            for (other, certificate) in certificates {
                #expect(
                    CertifiedKey.certificate(certificate, certifies: blob) == (other == name), "\(other) for \(name)")
            }
            #expect(!CertifiedKey.certificate(publicFile, certifies: blob), "a plain key is no certificate")
        }
    }

    @Test("methods expand in the caller's order; default identities are the files that exist, in OpenSSH's order")
    func expansion() throws {
        let dir = NSTemporaryDirectory() + "pssh-plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["id_ed25519", "id_rsa"] {
            _ = FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: nil)
        }
        let plan = AuthAttempt.plan([
            .privateKeyFile(path: "/keys/deploy"), .agent(), .defaultIdentities(directory: dir), .password("secret"),
        ])
        #expect(plan.map(\.protocolMethod) == ["publickey", "publickey", "publickey", "publickey", "password"])
        guard plan.count == 5 else { return }
        if case .keyFile(let path, _, let explicit, let file) = plan[0] {
            #expect(path == "/keys/deploy" && explicit)
            #expect(file.problem == "cannot read /keys/deploy: file not found")
        }
        if case .keyFile(let path, _, let explicit, let file) = plan[2] {
            #expect(path == "\(dir)/id_rsa" && !explicit)
            #expect(file.bytes == [], "read when planned, before any connection")
        }
        if case .keyFile(let path, _, _, _) = plan[3] { #expect(path == "\(dir)/id_ed25519") }
        #expect(!plan.description.contains("secret"), "a password never appears in a description")
    }

    @Test("methods the server does not offer are skipped and recorded; the error lists every attempt")
    func progress() {
        let options = SSHConnectionOptions(
            host: "h", port: 2200, user: "deploy",
            authMethods: [.agent(), .password("pw")])
        var progress = AuthProgress(options: options, attempts: AuthAttempt.plan(options.authMethods))
        progress.serverMethods = ["password"]
        let next = progress.next()
        #expect(next?.protocolMethod == "password")
        progress.record("denied", keyProblem: false)
        #expect(progress.next() == nil)
        let error = progress.exhaustedError
        #expect(error.code == .authenticationFailed)
        #expect(error.host == "h" && error.port == 2200)
        #expect(error.attempts.count == 2)
        #expect(error.attempts.first?.outcome.contains("not offered") == true)
    }

    @Test("when only the caller's own key was at fault the error is invalidKey, naming the file")
    func keyProblemsOnly() {
        let options = SSHConnectionOptions(host: "h", authMethods: [.privateKeyFile(path: "/no/such/key")])
        var progress = AuthProgress(options: options, attempts: AuthAttempt.plan(options.authMethods))
        #expect(progress.next() == nil)
        let error = progress.exhaustedError
        #expect(error.code == .invalidKey)
        #expect(error.description.contains("/no/such/key"))
    }
}

/// The authentication machine both engines run, as a table: every (state, event) pair and the move it makes.
@Suite("Authentication machine")
struct AuthRunTests {
    static let lost = SSHError(.connectionLost, message: "broke")

    /// A state or action as text, to compare.
    static func name(_ state: AuthRun.State) -> String {
        switch state {
        case .askingMethods: "askingMethods"
        case .choosing: "choosing"
        case .attempting(let index): "attempting(\(index))"
        case .succeeded: "succeeded"
        case .failed(let error): "failed(\(error.code))"
        }
    }

    static func name(_ action: AuthRun.Action) -> String {
        switch action {
        case .waitForIO: "waitForIO"
        case .succeed: "succeed"
        case .record(let text, let keyProblem): "record(\(text), keyProblem: \(keyProblem))"
        case .fail(let error): "fail(\(error.code))"
        case .proceed: "proceed"
        }
    }

    static let table: [(AuthRun.State, AuthRun.Event, String, String)] = [
        (.askingMethods, .methods(.wouldBlock), "askingMethods", "waitForIO"),
        (.askingMethods, .methods(.accepted), "succeeded", "succeed"),
        (.askingMethods, .methods(.offered), "choosing", "proceed"),
        (.askingMethods, .methods(.failed(lost)), "failed(connectionLost)", "fail(connectionLost)"),
        (.attempting(2), .attempt(.wouldBlock, isExplicitKey: true), "attempting(2)", "waitForIO"),
        (.attempting(2), .attempt(.accepted, isExplicitKey: false), "succeeded", "succeed"),
        (
            .attempting(2), .attempt(.partial(["password"]), isExplicitKey: false), "choosing",
            "record(accepted, but the server requires a further method, keyProblem: false)"
        ),
        (
            .attempting(2), .attempt(.denied("denied by the server"), isExplicitKey: true), "choosing",
            "record(denied by the server, keyProblem: false)"
        ),
        (
            .attempting(2), .attempt(.keyProblem("wrong passphrase"), isExplicitKey: true), "choosing",
            "record(wrong passphrase, keyProblem: true)"
        ),
        (
            .attempting(2), .attempt(.keyProblem("wrong passphrase"), isExplicitKey: false), "choosing",
            "record(wrong passphrase, keyProblem: false)"
        ),
        (
            .attempting(2), .attempt(.failed(lost), isExplicitKey: false), "failed(connectionLost)",
            "fail(connectionLost)"
        ),
        // Events that cannot happen in a state end the run as a protocol error, never a crash.
        (.askingMethods, .attempt(.accepted, isExplicitKey: false), "failed(protocolError)", "fail(protocolError)"),
        (.attempting(0), .methods(.offered), "failed(protocolError)", "fail(protocolError)"),
        (.succeeded, .methods(.accepted), "failed(protocolError)", "fail(protocolError)"),
        (.choosing, .attempt(.accepted, isExplicitKey: false), "failed(protocolError)", "fail(protocolError)"),
    ]

    @Test("every (state, event) pair moves to its state with its action", arguments: table.indices)
    func transition(row: Int) {
        let (state, event, expectedState, expectedAction) = Self.table[row]
        let (next, action) = AuthRun.transition(state, event)
        #expect(Self.name(next) == expectedState)
        #expect(Self.name(action) == expectedAction)
    }
}
