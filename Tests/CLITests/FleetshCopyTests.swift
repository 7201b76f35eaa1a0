import Foundation
import SSHTestSupport
import Testing

/// `fleetsh copy` and `fetch` against real sshd (the test servers share this machine's file system, so a copy to
/// every host lands on the same path, and each host's fetch in its own folder).
@Suite("fleetsh copy and fetch", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
struct FleetshCopyTests {
    @Test(
        "copy to every host and fetch back into per-host folders, over SFTP and SCP, files and trees; cmp agrees",
        arguments: ["libssh2", "libssh"], ["sftp", "scp"])
    func roundTrip(engine: String, protocolName: String) async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let flags = (protocolName == "scp" ? ["--scp"] : []) + ["--engine", engine]
            let local = site.directory + "/payload.bin"
            _ = try await offPool {
                try ProcessRunner.run([
                    "/bin/sh", "-c", "head -c 3000000 /dev/urandom > '\(local)'; chmod 644 '\(local)'",
                ])
            }
            let remote = site.directory + "/remote-\(protocolName).bin"
            let sent = try await Fleetsh.run(["copy", "-F", site.config, "-H", "web[1-3]"] + flags + [local, remote])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(sent.lines.sorted() == ["web1: done", "web2: done", "web3: done"])
            #expect(try await same(local, remote))
            let folder = site.directory + "/fetched-\(protocolName)"
            let fetched = try await Fleetsh.run(
                ["fetch", "-F", site.config, "-H", "web[1-3]"] + flags + [remote, folder])
            #expect(fetched.status == 0, "\(fetched.stderr)")
            for host in ["web1", "web2", "web3"] {
                #expect(try await same(local, "\(folder)/\(host)/remote-\(protocolName).bin"), "\(host)")
            }
            // A tree, recursively.
            let tree = site.directory + "/tree-\(protocolName)"
            try FileManager.default.createDirectory(atPath: tree + "/sub/empty", withIntermediateDirectories: true)
            try "leaf\n".write(toFile: tree + "/sub/leaf.txt", atomically: true, encoding: .utf8)
            let treeCopy = site.directory + "/tree-copy-\(protocolName)"
            let tree1 = try await Fleetsh.run(
                ["copy", "-F", site.config, "-H", "web1", "-r"] + flags + [tree, treeCopy])
            #expect(tree1.status == 0, "\(tree1.stderr)")
            #expect(try String(contentsOfFile: treeCopy + "/sub/leaf.txt", encoding: .utf8) == "leaf\n")
            #expect(FileManager.default.fileExists(atPath: treeCopy + "/sub/empty"))
        }
    }

    @Test(
        "a missing remote file fails those hosts with noSuchFile and exit code 1; a dead host is 2; the list of failures is written; local folders that cannot be made are named"
    )
    func failures() async throws {
        try await Exclusive.run {
            let site = try await Site.start()
            defer { site.stop() }
            let dead = try FreePort.find(host: "127.0.0.4")
            let failed = site.directory + "/failed"
            let result = try await Fleetsh.run([
                "fetch", "-F", site.config, "-H", "web[1-2]", "--failed-hosts", failed,
                "/nonexistent/file", site.directory + "/out",
            ])
            #expect(result.status == 1, "\(result.stderr)")
            #expect(
                result.stderr.contains("fleetsh: web1: ") && result.stderr.lowercased().contains("no such file"),
                "\(result.stderr)")
            #expect(try String(contentsOfFile: failed, encoding: .utf8) == "web[1-2]\n")
            let local = site.directory + "/small"
            try "x".write(toFile: local, atomically: true, encoding: .utf8)
            let withDead = try await Fleetsh.run([
                "copy", "-F", site.config, "-H", "web1,127.0.0.4:\(dead)", local, site.directory + "/small-copy",
            ])
            #expect(withDead.status == 2)
            #expect(withDead.lines == ["web1: done"])
            let fetchedWithDead = try await Fleetsh.run([
                "fetch", "-F", site.config, "-H", "web1,127.0.0.4:\(dead)", local, site.directory + "/from-both",
            ])
            #expect(fetchedWithDead.status == 2 && fetchedWithDead.lines == ["web1: done"], "\(fetchedWithDead.stderr)")
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: site.directory + "/from-both") == ["web1"],
                "a host that could not be reached leaves no folder")
            let missing = try await Fleetsh.run([
                "copy", "-F", site.config, "-H", "web1", "/nonexistent/local", "/tmp/x",
            ])
            #expect(missing.status == 64 && missing.stderr.contains("/nonexistent/local does not exist"))
            // Fetching into a file is refused before connecting; a host's folder that cannot be made fails that
            // host (1), naming the folder and why, and the other host still fetches.
            let intoFile = try await Fleetsh.run(["fetch", "-F", site.config, "-H", "web1", local, local])
            #expect(
                intoFile.status == 64 && intoFile.stderr.contains("\(local) is not a directory"), "\(intoFile.stderr)")
            let folders = site.directory + "/folders"
            try FileManager.default.createDirectory(atPath: folders, withIntermediateDirectories: false)
            try "x".write(toFile: folders + "/web1", atomically: true, encoding: .utf8)
            let blocked = try await Fleetsh.run(["fetch", "-F", site.config, "-H", "web[1-2]", local, folders])
            #expect(blocked.status == 1, "\(blocked.stderr)")
            #expect(
                blocked.stderr.contains("cannot create local directory \(folders)/web1: it is not a directory"),
                "\(blocked.stderr)")
            #expect(blocked.lines == ["web2: done"])
        }
    }

    private func same(_ a: String, _ b: String) async throws -> Bool {
        try await offPool { (try? ProcessRunner.run(["/usr/bin/cmp", "-s", a, b])) != nil }
    }
}
