import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHFakeBackend
import SSHTestSupport
import Testing

/// The frontend's copy logic over the fake engine's in-memory SFTP subsystem: no server, no network. The same
/// SFTP client runs here as over the real engines, since transfers sit above sessions.
@Suite("Frontend file copies (fake engine)", .timeLimit(.minutes(10)))
struct FrontendFakeCopyTests {

    /// Three fake hosts, each with its own files (which start with `/srv`).
    private func fleet() -> (FakeBackend, [String: FakeFiles]) {
        var disks: [String: FakeFiles] = [:]
        for host in ["a", "b", "c"] {
            let files = FakeFiles()
            files["/srv"] = .directory(mode: 0o755)
            disks[host] = files
        }
        let shared = disks
        return (FakeBackend { FakeHost(files: shared[$0]) }, disks)
    }

    @Test("an upload reaches every host with its content and mode; per-host names from a closure")
    func upload() async throws {
        let (backend, disks) = fleet()
        let dir = try scratchDirectory("fake-copy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        _ = FileManager.default.createFile(atPath: "\(dir)/payload", contents: Data(payload))
        chmod("\(dir)/payload", 0o640)
        let client = try ParallelSSHClient(
            hosts: ["a", "b", "c"], backend: backend,
            config: HostConfig(connectionAttempts: 1, sshConfig: .disabled))
        let sent = try await client.upload { _, index in ("\(dir)/payload", "/srv/copy-\(index)") }
        #expect(sent.allSatisfy { $0.error == nil })
        for (index, host) in ["a", "b", "c"].enumerated() {
            #expect(disks[host]?["/srv/copy-\(index)"] == .file(payload, mode: 0o640), "host \(host)")
        }
    }

    @Test("a download comes back from every host into one local file per host")
    func download() async throws {
        let (backend, disks) = fleet()
        for (host, files) in disks { files["/srv/log"] = .file(Array("log of \(host)\n".utf8), mode: 0o600) }
        let dir = try scratchDirectory("fake-copy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = try ParallelSSHClient(
            hosts: ["a", "b", "c"], backend: backend,
            config: HostConfig(connectionAttempts: 1, sshConfig: .disabled))
        let received = try await client.download("/srv/log", to: "\(dir)/log")
        #expect(received.map(\.localPath) == ["\(dir)/log_a", "\(dir)/log_b", "\(dir)/log_c"])
        for host in ["a", "b", "c"] {
            let text = try String(contentsOfFile: "\(dir)/log_\(host)", encoding: .utf8)
            #expect(text == "log of \(host)\n")
        }
    }

    @Test("a tree is uploaded with its directories; a missing remote file fails for its host only")
    func treeAndErrors() async throws {
        let (backend, disks) = fleet()
        disks["b"]?["/srv/only-on-b"] = .file([1, 2, 3], mode: 0o644)
        let dir = try scratchDirectory("fake-copy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/tree/sub", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(dir)/tree/sub/leaf", contents: Data("leaf".utf8))
        let client = try ParallelSSHClient(
            hosts: ["a", "b", "c"], backend: backend,
            config: HostConfig(connectionAttempts: 1, sshConfig: .disabled))
        _ = try await client.upload("\(dir)/tree", to: "/srv/tree", recurse: true)
        for (host, files) in disks {
            #expect(files["/srv/tree/sub"] != nil, "host \(host)")
            if case .file(let bytes, _)? = files["/srv/tree/sub/leaf"] {
                #expect(bytes == Array("leaf".utf8))
            } else {
                Issue.record("host \(host) has no leaf")
            }
        }
        let fetched = try await client.download("/srv/only-on-b", to: "\(dir)/fetched", stopOnErrors: false)
        #expect(fetched.map { $0.error == nil } == [false, true, false])
        #expect(fetched[0].error?.code == .noSuchFile)
        #expect(fetched[0].error?.host == "a")
        #expect(FileManager.default.contents(atPath: "\(dir)/fetched_b") == Data([1, 2, 3]))
    }
}
