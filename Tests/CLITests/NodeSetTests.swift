import FleetCLI
import Foundation
import SSHTestSupport
import Testing

@Suite("Host sets, entries and shards")
struct NodeSetTests {
    @Test("expands ranges, lists and products as clush and pdsh do, keeping zero padding")
    func expand() throws {
        #expect(try NodeSet.expand("node[1-3,7]") == ["node1", "node2", "node3", "node7"])
        #expect(
            try NodeSet.expand("web[08-10].example.com") == [
                "web08.example.com", "web09.example.com", "web10.example.com",
            ])
        #expect(try NodeSet.expand("r[1-2]n[1-2]") == ["r1n1", "r1n2", "r2n1", "r2n2"])
        #expect(try NodeSet.expand("a, b[1-2],a") == ["a", "b1", "b2"])
        #expect(try NodeSet.expand("host") == ["host"])
    }

    @Test(
        "brackets holding a colon are an IPv6 address, as ssh writes one beside a port, ranges beside it still expand")
    func ipv6Literals() throws {
        #expect(try NodeSet.expand("root@[::1]:2222") == ["root@[::1]:2222"])
        #expect(try NodeSet.expand("[::1]:[2222-2223],[fe80::1%lo]") == ["[::1]:2222", "[::1]:2223", "[fe80::1%lo]"])
        #expect(try NodeSet.expand(NodeSet.fold(["[::1]:2222", "[::1]:2223"])) == ["[::1]:2222", "[::1]:2223"])
        let entry = try HostEntry(try NodeSet.expand("admin@[::1]:2222")[0])
        #expect(entry.user == "admin" && entry.host == "::1" && entry.port == 2222)
    }

    @Test(
        "bad sets are errors naming the text",
        arguments: [
            ("web[1-", "unclosed '['"), ("web1-]", "unbalanced ']'"), ("n[3-1]", "reversed range"),
            ("n[a-b]", "bad range"),
            ("n[[1]]", "nested"), ("n[0-99999999]", "more than"),
        ])
    func badSets(text: String, words: String) {
        #expect(throws: NodeSet.SyntaxError.self) { try NodeSet.expand(text) }
        do { _ = try NodeSet.expand(text) } catch { #expect(error.description.contains(words), "\(error)") }
    }

    @Test("folding is the inverse of expanding, as clush's nodeset -f writes it")
    func fold() throws {
        #expect(NodeSet.fold(["node1", "node2", "node3", "node7"]) == "node[1-3,7]")
        #expect(NodeSet.fold(["web08", "web09", "web10", "db1"]) == "web[08-10],db1")
        #expect(NodeSet.fold(["a", "b"]) == "a,b")
        for text in ["node[1-3,7]", "web[001-120].x", "r1n[1-4],r2n[1-4]", "a,b,c"] {
            #expect(try NodeSet.expand(NodeSet.fold(try NodeSet.expand(text))) == (try NodeSet.expand(text)))
        }
        // Against clustershell's own folding (nodeset -f; scripts/install-deps installs it).
        for text in ["m[01-03],n[1-5,9,11-12]", "web[08-10],web1", "rack1-n[1-3],rack2-n[1-3]", "a,b9,b10"] {
            let names = try NodeSet.expand(text)
            let theirs = try oracle(["/usr/bin/nodeset", "-f"] + names)
            #expect(try Set(NodeSet.expand(NodeSet.fold(names))) == Set(names))
            #expect(try Set(NodeSet.expand(theirs)) == Set(names), "ours reads theirs: \(theirs)")
        }
        #expect(
            try oracle(["/usr/bin/nodeset", "-f"] + NodeSet.expand("m[01-03],n[1-5,9,11-12]"))
                == "m[01-03],n[1-5,9,11-12]")
    }

    @Test("entries: user, host, port, IPv6; bad ports named")
    func entries() throws {
        let entry = try HostEntry("admin@web1:2222")
        #expect(entry.user == "admin" && entry.host == "web1" && entry.port == 2222)
        #expect(try HostEntry("[::1]:22").host == "::1")
        #expect(try HostEntry("::1").host == "::1")
        #expect(throws: HostList.Error.self) { try HostEntry("web1:99999") }
        #expect(throws: HostList.Error.self) { try HostEntry("@web1") }
    }

    @Test("hosts files: comments, several per line, node sets, exclusions, first entry wins")
    func hostsFiles() throws {
        let path = NSTemporaryDirectory() + "hosts-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "# fleet\nweb[1-3] db1\n\n  web2  # again\nbad[\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: HostList.Error.self) { try HostList.resolve(sets: [], files: [path], exclude: []) }
        do { _ = try HostList.resolve(sets: [], files: [path], exclude: []) } catch {
            #expect(error.description.contains("\(path) line 5"))
        }
        try "# fleet\nweb[1-3] db1\n\n  web2  # again\n".write(toFile: path, atomically: true, encoding: .utf8)
        let entries = try HostList.resolve(sets: ["x1"], files: [path], exclude: ["web[2-3]"])
        #expect(entries.map(\.name) == ["x1", "web1", "db1"])
        let fromStdin = try HostList.resolve(sets: [], files: ["-"], exclude: [], standardInput: { "a\nb # c\n" })
        #expect(fromStdin.map(\.name) == ["a", "b"])
    }

    @Test("shards split any list into disjoint parts that cover it, the same name always in the same shard")
    func shards() throws {
        let names = (1...1000).map { "node\($0)" }
        var covered: [String] = []
        for index in 1...4 {
            let shard = try Shard("\(index)/4")
            let mine = names.filter(shard.contains)
            #expect(mine.count > 150 && mine.count < 350, "roughly balanced: \(mine.count)")
            #expect(names.shuffled().filter(shard.contains).sorted() == mine.sorted(), "order does not matter")
            covered += mine
        }
        #expect(covered.sorted() == names.sorted())
        #expect(throws: HostList.Error.self) { try Shard("0/4") }
        #expect(throws: HostList.Error.self) { try Shard("5/4") }
        let slurm = try Shard.fromEnvironment(
            [
                "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_COUNT": "4",
            ], count: nil)
        #expect(slurm == Shard(index: 3, count: 4))
        #expect(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "0"], count: 2) == Shard(index: 1, count: 2))
        #expect(throws: HostList.Error.self) { try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "0"], count: nil) }
    }

    @Test("the exit code is the most severe outcome")
    func contract() {
        func report(_ status: Int32?, _ kind: String? = nil) -> HostReport {
            HostReport(
                host: "h", exitStatus: status, signal: nil, stdout: "", stderr: "",
                error: kind.map { HostReport.Failure(kind: $0, message: "m") }, started: "", duration: 0)
        }
        #expect(contractExitCode(for: []) == 0)
        #expect(contractExitCode(for: [report(0), report(0)]) == 0)
        #expect(contractExitCode(for: [report(0), report(5)]) == 1)
        #expect(contractExitCode(for: [report(5), report(nil, "timeout")]) == 2)
        #expect(contractExitCode(for: [report(nil, "authenticationFailed"), report(nil, "hostKeyUnknown")]) == 3)
        #expect(contractExitCode(for: [report(nil, "hostKeyChanged"), report(nil, "invalidArgument")]) == 64)
    }

    private func oracle(_ arguments: [String]) throws -> String {
        let data = Data(try ProcessRunner.run(arguments).utf8)
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(
        "fetch names a host's copy after the remote path as written: a home directory (~, ~user) lands in the host's folder itself, never named after this machine's accounts"
    )
    func fetchNames() {
        let cases: [(String, String)] = [
            ("~", "."), ("~/", "."), ("~root", "."), ("~bob/", "."), ("~/x", "x"), ("~bob/logs/", "logs"),
            ("/var/log/syslog", "syslog"), ("/a/b/", "b"), ("/a/~b", "~b"), ("x", "x"), ("/", "."), ("", "."),
            ("/tmp/d/.", "."),
        ]
        for (path, name) in cases { #expect(FetchName.of(path) == name, "\(path)") }
    }
}
