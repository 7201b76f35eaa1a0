import SSHBackend
import SSHTestSupport
import Testing

@Suite("Exec")
struct ExecTests {
    @Test("stdout and stderr arrive separately", arguments: Engine.all)
    func separateStreams(engine: Engine) async throws {
        let session = try await engine.connect()
        let result = try await run(session, "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
        #expect(result.stdout == "out1\nout2\n")
        #expect(result.stderr == "err1\nerr2\n")
        #expect(result.exit == SSHExitStatus(code: 0))
        await session.close()
    }

    @Test("exit codes 0, 1, 42 and 255 are reported", arguments: Engine.all)
    func exitCodes(engine: Engine) async throws {
        let session = try await engine.connect()
        for code in [0, 1, 42, 255] as [Int32] {
            let result = try await run(session, "exit \(code)")
            #expect(result.exit.code == code)
            #expect(result.exit.signal == nil)
        }
        await session.close()
    }
}
