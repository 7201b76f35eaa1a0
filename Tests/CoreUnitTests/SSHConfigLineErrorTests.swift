import Foundation
import SSHBackend
import SSHConfig
import SSHTestSupport
import Testing

@Suite("ssh_config line errors, as the resolver reports them")
struct SSHConfigLineErrorTests {
    /// The error resolving `host` with `source` gives.
    private func failure(_ source: SSHConfigSource) async -> SSHError? {
        do {
            _ = try await SSHConfigResolver().resolve(host: "h", source: source)
            return nil
        } catch {
            return error as? SSHError
        }
    }

    @Test("a bad line in a file or in -o is found with its file, line and reason; other errors are not lines")
    func places() async throws {
        let dir = try scratchDirectory("config-line")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/my config"
        try "Host h\n    Port 22\n    Bogus yes\n".write(toFile: file, atomically: true, encoding: .utf8)
        let inFile = try #require(await failure(.file(file)))
        let found = try #require(SSHConfigLineError(inFile), "\(inFile)")
        #expect(found.path == file && found.line == 3 && found.reason == "Bad configuration option: bogus")
        let inOption = try #require(
            await failure(SSHConfigSource(userFile: nil, systemFile: nil, options: ["Port=22", "Port=abc"])))
        let place = try #require(SSHConfigLineError(inOption))
        #expect(place.path == SSHConfigLineError.commandLine && place.line == 2, "\(inOption)")
        #expect(SSHConfigLineError(SSHError(.invalidArgument, message: "cannot read /x")) == nil)
        #expect(SSHConfigLineError(SSHError(.timeout, message: "f line 2: late")) == nil)
    }
}
