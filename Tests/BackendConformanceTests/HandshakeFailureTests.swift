import Foundation
import SSHBackend
import SSHEventLoop
import SSHTestSupport
import Testing

/// Servers that are not (quite) SSH servers (`Tests/Servers/not_ssh.py`): each situation gets one error code,
/// the same on every engine, with a message that says what the server did. Only a server that sent nothing is
/// `closedBeforeBanner`, the code the parallel client paces and retries as a MaxStartups refusal.
@Suite("Handshake failures: what the server did", .timeLimit(.minutes(5)))
struct HandshakeFailureTests {
    static let situations: [(mode: String, code: SSHError.Code, says: String)] = [
        ("close", .closedBeforeBanner, "closed the connection before sending anything"),
        ("reset", .closedBeforeBanner, "closed the connection before sending anything"),
        ("garbage-close", .handshakeFailed, "sent 'HTTP/1.1 400 Bad Request' instead of an SSH identification"),
        ("garbage-silence", .handshakeFailed, "sent 'HTTP/1.1 400 Bad Request' instead of an SSH identification"),
        (
            "banner-close", .handshakeFailed,
            "sent its identification 'SSH-2.0-NotQuite_1.0', then closed the connection"
        ),
        (
            "banner-silence", .timeout,
            "sent its identification 'SSH-2.0-NotQuite_1.0' but the key exchange did not follow"
        ),
        ("ssh1", .handshakeFailed, "speaks SSH protocol 1.5 ('SSH-1.5-OldServer_1.0'); only SSH 2 is supported"),
    ]

    @Test("each situation: one code on every engine, a message that says what arrived", arguments: Engine.all)
    func table(engine: Engine) async throws {
        for situation in Self.situations {
            let host = "127.0.0.8"
            let port = try FreePort.find(host: host)
            let logs = try scratchDirectory("not-ssh")
            defer { try? FileManager.default.removeItem(atPath: logs) }
            let server = try ProcessRunner.spawnGuarded(
                [
                    "/usr/bin/python3", InteropServer.repositoryRoot + "/Tests/Servers/not_ssh.py", "--host", host,
                    "--port", "\(port)", "--mode", situation.mode,
                ],
                logFile: logs + "/server.log")
            defer { server.stop() }
            try await waitUntil("the server listening") { server.log.contains("listening") }
            var options = SSHConnectionOptions(
                host: host, port: port, authMethods: [.password("unused")],
                connectTimeout: .seconds(2), operationTimeout: .seconds(2),
                hostKeyPolicy: TestKeys.shared.hostKeyPolicy)
            options.keepaliveInterval = nil
            var code = situation.code
            var says = situation.says
            // Only a server that falls silent is ended by the deadline (ssh1 too: it says nothing after its line);
            // every other situation ends by what the server did, so
            // it runs on a clock that never moves: no load can turn it into a timeout.
            let silent = ["garbage-silence", "banner-silence", "ssh1"].contains(situation.mode)
            let backend = silent ? engine.backend : engine.onClock(ManualClock())
            let error: SSHError?
            do {
                _ = try await backend.connect(options)
                error = nil
            } catch let failure as SSHError {
                error = failure
                if situation.mode == "garbage-silence" && engine.backend.name == "libssh" && failure.code == .timeout {
                    // The one race left: libssh may read the text inside the call that sends our identification,
                    // before the driver can look (docs/reliability.md). The error then says what is known.
                    (code, says) = (.timeout, "sent no SSH identification")
                }
            }
            #expect(error?.code == code, "\(situation.mode): \(error.map { "\($0)" } ?? "it connected")")
            #expect(error?.message.contains(says) == true, "\(situation.mode): \(error.map { "\($0)" } ?? "")")
            #expect(error?.host == host && error?.port == port)
        }
    }
}
