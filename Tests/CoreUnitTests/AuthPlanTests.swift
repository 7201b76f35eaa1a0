import Foundation
import SSHBackend
import SSHEngineCore
import Testing

/// The authentication plan both engines follow: what is tried, in which order, and the error that sums it up.
@Suite("Authentication plan")
struct AuthPlanTests {
    @Test("methods expand in the caller's order; default identities are the files that exist, in OpenSSH's order")
    func expansion() throws {
        let dir = NSTemporaryDirectory() + "pssh-plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["id_ed25519", "id_rsa"] { _ = FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: nil) }
        let plan = AuthAttempt.plan([
            .privateKeyFile(path: "/keys/deploy"), .agent(), .defaultIdentities(directory: dir), .password("secret"),
        ])
        #expect(plan.map(\.protocolMethod) == ["publickey", "publickey", "publickey", "publickey", "password"])
        guard plan.count == 5 else { return }
        if case .keyFile(let path, _, let explicit) = plan[0] { #expect(path == "/keys/deploy" && explicit) }
        if case .keyFile(let path, _, let explicit) = plan[2] { #expect(path == "\(dir)/id_rsa" && !explicit) }
        if case .keyFile(let path, _, _) = plan[3] { #expect(path == "\(dir)/id_ed25519") }
        #expect(!plan.description.contains("secret"), "a password never appears in a description")
    }

    @Test("methods the server does not offer are skipped and recorded; the error lists every attempt")
    func progress() {
        let options = SSHConnectionOptions(host: "h", port: 2200, user: "deploy",
                                           authMethods: [.agent(), .password("pw")])
        var progress = AuthProgress(options: options)
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
        var progress = AuthProgress(options: options)
        #expect(progress.next() == nil)
        let error = progress.exhaustedError
        #expect(error.code == .invalidKey)
        #expect(error.description.contains("/no/such/key"))
    }
}
