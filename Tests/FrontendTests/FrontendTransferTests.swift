import Foundation
import ParallelFrontend
import SSHBackend
import SSHTestSupport
import Synchronization
import Testing

@Suite("Frontend file copies against real sshd", .timeLimit(.minutes(10)))
struct FrontendTransferTests {

    private func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test(
        "parallel SFTP and SCP copies to 5 entries with one dead host: the others complete",
        arguments: FrontendEngine.all)
    func parallelCopies(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let dir = try scratchDirectory("copy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let payload = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try payload.write(to: URL(fileURLWithPath: "\(dir)/payload"))
        let dead = try FreePort.find(host: "127.0.0.3")
        let client = try Fleet.client(
            engine, servers: servers + [servers[0]], extra: [("127.0.0.3", dead)],
            timeout: .seconds(30))  // the dead host is refused at once; a loaded machine needs room
        let finalBytes = Mutex<[Int: UInt64]>([:])
        let progress: TransferProgressHandler = { _, index, progress in
            finalBytes.withLock { $0[index] = progress.bytesDone }
        }
        let sent = try await client.upload(stopOnErrors: false, progress: progress) { _, index in
            ("\(dir)/payload", "\(dir)/sftp-\(index)")
        }
        #expect(
            sent.map { $0.error == nil } == [true, true, true, true, false],
            "\(sent.map { $0.error.map { "\($0)" } ?? "ok" })")
        #expect(sent[4].error?.code == .connectionRefused)
        for index in 0..<4 { #expect(contents("\(dir)/sftp-\(index)") == payload) }
        #expect(finalBytes.withLock { $0 }.filter { $0.value == UInt64(payload.count) }.count == 4)

        let scp = try await client.upload(using: .scp(), stopOnErrors: false) { _, index in
            ("\(dir)/payload", "\(dir)/scp-\(index)")
        }
        #expect(scp.prefix(4).allSatisfy { $0.error == nil })
        for index in 0..<4 { #expect(contents("\(dir)/scp-\(index)") == payload) }

        // Downloads land in one file per entry: a name listed twice (127.0.0.1, and 127.0.0.3 with the dead port)
        // gets the entry's index as well.
        let fetched = try await client.download("\(dir)/payload", to: "\(dir)/fetched", stopOnErrors: false)
        #expect(
            fetched.prefix(4).map(\.localPath) == [
                "\(dir)/fetched_127.0.0.1_0", "\(dir)/fetched_127.0.0.2", "\(dir)/fetched_127.0.0.3_2",
                "\(dir)/fetched_127.0.0.1_3",
            ])
        for transfer in fetched.prefix(4) { #expect(contents(transfer.localPath) == payload) }
        let received = try await client.download(
            "\(dir)/payload", to: "\(dir)/received", using: .scp(), suffixSeparator: "-",
            stopOnErrors: false)
        for transfer in received.prefix(4) { #expect(contents(transfer.localPath) == payload, "\(transfer)") }
    }

    @Test("closure forms: each host's paths come from a closure of host and index", arguments: FrontendEngine.all)
    func closureForms(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let dir = try scratchDirectory("copy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for index in 0..<3 { try Data("payload \(index)".utf8).write(to: URL(fileURLWithPath: "\(dir)/in-\(index)")) }
        let client = try Fleet.client(engine, servers: servers)
        let hosts = servers.map(\.host)
        // Each host gets its own source and its own remote name, built from its address.
        let sent = try await client.upload { host, index in ("\(dir)/in-\(index)", "\(dir)/sftp-\(host)") }
        #expect(sent.map(\.remotePath) == hosts.map { "\(dir)/sftp-\($0)" })
        let sentSCP = try await client.upload(using: .scp()) { host, index in
            ("\(dir)/in-\(index)", "\(dir)/scp-\(host)")
        }
        #expect(sentSCP.allSatisfy { $0.error == nil })
        for (index, host) in hosts.enumerated() {
            #expect(contents("\(dir)/sftp-\(host)") == Data("payload \(index)".utf8))
            #expect(contents("\(dir)/scp-\(host)") == Data("payload \(index)".utf8))
        }
        let fetched = try await client.download { host, index in ("\(dir)/back-sftp-\(index)", "\(dir)/sftp-\(host)") }
        #expect(fetched.map(\.localPath) == (0..<hosts.count).map { "\(dir)/back-sftp-\($0)" })
        let received = try await client.download(using: .scp()) { host, index in
            ("\(dir)/back-scp-\(index)", "\(dir)/scp-\(host)")
        }
        #expect(received.allSatisfy { $0.error == nil })
        for index in hosts.indices {
            #expect(contents("\(dir)/back-sftp-\(index)") == Data("payload \(index)".utf8))
            #expect(contents("\(dir)/back-scp-\(index)") == Data("payload \(index)".utf8))
        }
    }

    @Test(
        "SCP does not overwrite unless asked, into a directory too; directories need recurse",
        arguments: FrontendEngine.all)
    func overwriteAndRecurse(engine: FrontendEngine) async throws {
        let servers = try await Fleet.servers
        let dir = try scratchDirectory("copy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("new".utf8).write(to: URL(fileURLWithPath: "\(dir)/new"))
        try Data("old".utf8).write(to: URL(fileURLWithPath: "\(dir)/existing"))
        chmod("\(dir)/existing", 0o666)  // the test account may replace it
        let client = try Fleet.client(engine, servers: Array(servers.prefix(1)))
        let refused = await #expect(throws: SSHError.self) {
            try await client.upload("\(dir)/new", to: "\(dir)/existing", using: .scp())
        }
        #expect(refused?.code == .fileTransferFailed && refused?.description.contains("already exists") == true)
        #expect(contents("\(dir)/existing") == Data("old".utf8))
        try await client.upload("\(dir)/new", to: "\(dir)/existing", using: .scp(overwrite: true))
        #expect(contents("\(dir)/existing") == Data("new".utf8))
        // Into a directory: a new name is fine, an existing one is refused in the same way.
        try FileManager.default.createDirectory(atPath: "\(dir)/into", withIntermediateDirectories: false)
        chmod("\(dir)/into", 0o777)
        try await client.upload("\(dir)/new", to: "\(dir)/into", using: .scp())
        #expect(contents("\(dir)/into/new") == Data("new".utf8))
        let again = await #expect(throws: SSHError.self) {
            try await client.upload("\(dir)/new", to: "\(dir)/into", using: .scp())
        }
        #expect(again?.description.contains("\(dir)/into/new already exists") == true, "\(String(describing: again))")

        try FileManager.default.createDirectory(atPath: "\(dir)/tree/inner", withIntermediateDirectories: true)
        try Data("leaf".utf8).write(to: URL(fileURLWithPath: "\(dir)/tree/inner/leaf"))
        let notRecursive = await #expect(throws: SSHError.self) {
            try await client.upload("\(dir)/tree", to: "\(dir)/copy")
        }
        #expect(notRecursive?.code == .invalidArgument)
        try await client.upload("\(dir)/tree", to: "\(dir)/deep/missing/parents/copy", recurse: true)
        #expect(contents("\(dir)/deep/missing/parents/copy/inner/leaf") == Data("leaf".utf8))
        try await client.download("\(dir)/tree", to: "\(dir)/back", using: .scp(), recurse: true)
        #expect(contents("\(dir)/back_127.0.0.1/inner/leaf") == Data("leaf".utf8))
    }
}
