import BackendLibSSH
import BackendLibSSH2
import SSHBackend
import SSHEventLoop
import SSHTestSupport
import Testing

/// One engine under test. Every conformance test runs once per engine, and its name shows which.
struct Engine: Sendable, CustomTestStringConvertible {
    let backend: any SSHBackend
    /// The same engine on other loops.
    private let onLoops: @Sendable (EventLoopGroup) -> any SSHBackend

    var testDescription: String { backend.name }

    /// Every engine the package builds. The suite is written once against `SSHBackend`; adding an engine here is
    /// all it takes to hold it to the same tests.
    static let all: [Engine] = [
        Engine(backend: LibSSH2Backend(), onLoops: { LibSSH2Backend(loops: $0) }),
        Engine(backend: LibSSHBackend(), onLoops: { LibSSHBackend(loops: $0) }),
    ]

    /// The engine on a loop whose time is `clock`'s: its deadlines and keepalives fire only as the test advances it.
    func onClock(_ clock: ManualClock) -> any SSHBackend {
        onLoops(EventLoopGroup(threads: 1, clock: .manual(clock)))
    }

    /// Connects to the shared test server with the ed25519 test key (or `auth`).
    func connect(
        to server: TestSSHServer? = nil,
        auth: [SSHAuthMethod] = [.privateKeyFile(path: TestKeys.shared.ed25519)]
    ) async throws -> any SSHSession {
        let target: TestSSHServer
        if let server { target = server } else { target = try await TestSSHServer.sharedStarted }
        return try await backend.connect(target.options(auth: auth))
    }
}

/// Runs `command` and returns its stdout, stderr and exit status, reading both streams concurrently.
func run(
    _ session: any SSHSession, _ command: String, pty: SSHPTYRequest? = nil,
    environment: [String: String] = [:]
) async throws -> (stdout: String, stderr: String, exit: SSHExitStatus) {
    let channel = try await session.exec(command, pty: pty, environment: environment)
    async let out = channel.stdout.collect()
    async let err = channel.stderr.collect()
    let (stdout, stderr) = try await (out, err)
    let exit = try await channel.exitStatus()
    return (String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self), exit)
}

/// Asserts that `body` throws an `SSHError` with `code`, and returns it.
@discardableResult
func expectSSHError<T>(
    _ code: SSHError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> SSHError? {
    do {
        _ = try await body()
        Issue.record("expected SSHError.\(code), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as SSHError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected SSHError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
