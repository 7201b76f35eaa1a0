import Foundation
import SSHBackend
import SSHTestSupport
import Testing

@testable import SSHKnownHosts

/// The known-hosts engine against OpenSSH's own tools as oracles: `ssh-keygen -F` for which lines match a name,
/// `ssh-keygen -l` for fingerprints, `sha256sum` and Python's `hmac` for the digests.
@Suite("Known hosts (OpenSSH as the oracle)", .timeLimit(.minutes(10)))
struct KnownHostsTests {
    private static let keygen = "/usr/bin/ssh-keygen"

    /// Three fresh public keys (ed25519, ECDSA, ed25519) as `type base64`.
    private static func makeKeys(in dir: String) throws -> [(path: String, line: String)] {
        try [["-t", "ed25519"], ["-t", "ecdsa"], ["-t", "ed25519"]].enumerated().map { index, type in
            try ProcessRunner.run([keygen, "-q", "-N", ""] + type + ["-f", "\(dir)/k\(index)"])
            let parts = try String(contentsOfFile: "\(dir)/k\(index).pub", encoding: .utf8).split(separator: " ")
            return ("\(dir)/k\(index)", "\(parts[0]) \(parts[1])")
        }
    }

    private static func key(_ base64: Substring) -> HostKeyInfo? {
        Data(base64Encoded: String(base64)).flatMap { HostKeyInfo(blob: Array($0)) }
    }

    @Test("SHA-256 and HMAC-SHA1 equal sha256sum and Python's hmac on inputs of every block boundary")
    func digests() async throws {
        // Many short oracle processes: run them off Swift's cooperative threads, which other tests' timers need.
        try await offPool { try self.digestsAlone() }
    }

    private func digestsAlone() throws {
        let dir = try scratchDirectory("kh")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/in"))
            let expected = try ProcessRunner.run(["/usr/bin/sha256sum", "\(dir)/in"]).prefix(64)
            #expect(SHA256.hash(bytes).map { String(format: "%02x", $0) }.joined() == expected, "length \(length)")
            let salt = (0..<20).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ length) }
            let script =
                "import hmac,hashlib,sys; print(hmac.new(bytes.fromhex(sys.argv[1]), open(sys.argv[2],'rb').read(), hashlib.sha1).hexdigest())"
            let mac = try ProcessRunner.run([
                "/usr/bin/python3", "-c", script, salt.map { String(format: "%02x", $0) }.joined(),
                "\(dir)/in",
            ]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(
                HMACSHA1(key: salt).authenticate(bytes).map { String(format: "%02x", $0) }.joined() == mac,
                "length \(length)")
        }
    }

    @Test("fingerprints and key types equal ssh-keygen -l for every key type OpenSSH 9.2 makes")
    func fingerprints() async throws {
        // Many short oracle processes: run them off Swift's cooperative threads, which other tests' timers need.
        try await offPool { try self.fingerprintsAlone() }
    }

    private func fingerprintsAlone() throws {
        let dir = try scratchDirectory("kh")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, type) in [
            ("ed", ["-t", "ed25519"]), ("ec256", ["-t", "ecdsa", "-b", "256"]),
            ("ec384", ["-t", "ecdsa", "-b", "384"]), ("ec521", ["-t", "ecdsa", "-b", "521"]),
            ("rsa", ["-t", "rsa", "-b", "2048"]), ("dsa", ["-t", "dsa"]),
        ] {
            try ProcessRunner.run([Self.keygen, "-q", "-N", ""] + type + ["-f", "\(dir)/\(name)"])
            let line = try String(contentsOfFile: "\(dir)/\(name).pub", encoding: .utf8).split(separator: " ")
            let key = try #require(Self.key(line[1]))
            // "256 SHA256:... comment (ED25519)"
            let oracle = try ProcessRunner.run([Self.keygen, "-l", "-f", "\(dir)/\(name).pub"]).split(separator: " ")
            #expect(key.fingerprint == oracle[1], "\(name)")
            #expect("(\(key.displayType))" == oracle.last?.trimmingCharacters(in: .whitespacesAndNewlines), "\(name)")
            #expect(key.blobType == line[0])
        }
    }

    /// A corpus of known-hosts lines: comments and six broken lines, then literal names, comma lists, wildcards,
    /// negations, ports, markers, blanks and CRLF.
    private func corpus(keys: [String]) -> (broken: [String], good: [String]) {
        let broken = [
            "# a comment", "", "   ", "@bogus web1 \(keys[0])", "web1", "web1 ssh-ed25519",
            "web1 ssh-ed25519 !!!notbase64", "web1 ssh-foo AAAA", "web2 ssh-rsa \(keys[0].split(separator: " ")[1])",
        ]
        var good: [String] = []
        let names = [
            "web1", "WEB2.example.com", "db-1", "10.0.0.5", "[10.0.0.5]:2222", "[web1]:2200", "node7", "node17",
        ]
        for (index, name) in names.enumerated() { good.append("\(name) \(keys[index % keys.count])") }
        good += [
            "web1,web3,10.0.0.9 \(keys[1])",
            "*.example.com,!db.example.com \(keys[2])",
            "node? \(keys[0])",
            "node* \(keys[1])",
            "[10.0.0.*]:2222 \(keys[2])",
            "!web1,web* \(keys[0])",
            "@revoked * \(keys[2])",
            "@cert-authority *.example.com \(keys[1])",
            "\t  web4   \(keys[0]) trailing comment words",
            "web5 \(keys[1])\r",
        ]
        return (broken, good)
    }

    private static let lookups = [
        "web1", "web2", "WEB2.example.com", "web3", "web4", "web5", "db.example.com",
        "a.example.com", "db-1", "10.0.0.5", "[10.0.0.5]:2222", "[10.0.0.7]:2222", "[web1]:2200",
        "node7", "node17", "node", "10.0.0.9", "unknown", "[web1]:22", "web", "webby",
    ]

    /// The line numbers `ssh-keygen -F name -l -f file` reports (with `-l` it parses each key, so lines whose key
    /// does not parse are left out, as ssh leaves them out; marker lines are never reported).
    private func oracleLines(_ name: String, _ file: String) throws -> Set<Int> {
        let output = try ProcessRunner.outcome([Self.keygen, "-F", name, "-l", "-f", file]).output
        var lines = Set<Int>()
        for row in output.split(separator: "\n") where row.hasPrefix("# Host ") {
            if let number = row.split(separator: " ").last.flatMap({ Int($0) }) { lines.insert(number) }
        }
        return lines
    }

    @Test("which lines match a name equals ssh-keygen -F, plain and hashed with ssh-keygen -H")
    func matcherAgainstKeygen() async throws {
        // Many short oracle processes: run them off Swift's cooperative threads, which other tests' timers need.
        try await offPool { try self.matcherAgainstKeygenAlone() }
    }

    private func matcherAgainstKeygenAlone() throws {
        let dir = try scratchDirectory("kh")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = try Self.makeKeys(in: dir).map(\.line)
        let lines = corpus(keys: keys)
        let plain = "\(dir)/plain"
        try ((lines.broken + lines.good).joined(separator: "\n") + "\n").write(
            toFile: plain, atomically: true, encoding: .utf8)
        // ssh-keygen -H refuses a file with broken lines: it hashes the well-formed ones.
        let hashed = "\(dir)/hashed"
        try (lines.good.joined(separator: "\n") + "\n").write(toFile: hashed, atomically: true, encoding: .utf8)
        try ProcessRunner.run([Self.keygen, "-H", "-f", hashed])
        var compared = 0
        for file in [plain, hashed] {
            let text = try #require(FileManager.default.contents(atPath: file))
            let parsed = KnownHostsParser.parse(Array(text), file: file)
            let index = KnownHostsIndex(parsed.entries)
            for name in Self.lookups {
                let ours = Set(index.lookup(name).filter { $0.marker == .none }.map(\.line))
                let theirs = try oracleLines(name.lowercased(), file)
                #expect(
                    ours == theirs,
                    "\(name) in \(file == plain ? "plain" : "hashed"): ours \(ours.sorted()), ssh-keygen \(theirs.sorted())"
                )
                compared += 1
            }
            // Broken lines are skipped with their line numbers, never fatal.
            #expect(parsed.skipped.count == (file == plain ? 6 : 0), "\(parsed.skipped)")
        }
        #expect(compared == 2 * Self.lookups.count)
        let hashedText = try String(contentsOfFile: hashed, encoding: .utf8)
        #expect(hashedText.contains("|1|"), "ssh-keygen -H hashed the file")
    }

    @Test("verdicts: known, new, changed (same and other type), revoked, and the port-less retry")
    func verdicts() async throws {
        // Many short oracle processes: run them off Swift's cooperative threads, which other tests' timers need.
        try await offPool { try self.verdictsAlone() }
    }

    private func verdictsAlone() throws {
        let dir = try scratchDirectory("kh")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try Self.makeKeys(in: dir)
        let keys = try made.map { try #require(Self.key($0.line.split(separator: " ")[1])) }
        let lines = made.map(\.line)
        let text = [
            "same \(lines[0])", "other-type \(lines[1])", "revoked \(lines[0])", "@revoked revoked \(lines[0])",
            "bare \(lines[0])",
        ].joined(separator: "\n")
        let index = KnownHostsIndex(KnownHostsParser.parse(Array(text.utf8), file: "f").entries)
        #expect(HostKeyVerdict.judge(keys[0], index.lookup("same")) == .known(index.lookup("same")[0]))
        #expect(HostKeyVerdict.judge(keys[2], index.lookup("same")) == .changed(offending: index.lookup("same")[0]))
        #expect(
            HostKeyVerdict.judge(keys[0], index.lookup("other-type"))
                == .changed(offending: index.lookup("other-type")[0]))
        #expect(HostKeyVerdict.judge(keys[0], index.lookup("nobody")) == .new)
        if case .revoked(let entry) = HostKeyVerdict.judge(keys[0], index.lookup("revoked")) {
            #expect(entry.line == 4)
        } else {
            Issue.record("a revoked key must be REVOKED")
        }
    }

    @Test("algorithm order: OpenSSH's list, known types first unless the first is known, limited to the engine")
    func algorithmOrder() async throws {
        let dir = try scratchDirectory("kh")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await offPool {
            try ProcessRunner.run([Self.keygen, "-q", "-N", "", "-t", "ecdsa", "-f", "\(dir)/ec"])
            try ProcessRunner.run([Self.keygen, "-q", "-N", "", "-t", "rsa", "-b", "2048", "-f", "\(dir)/rsa"])
        }
        let ec = try String(contentsOfFile: "\(dir)/ec.pub", encoding: .utf8).split(separator: " ")
        let rsa = try String(contentsOfFile: "\(dir)/rsa.pub", encoding: .utf8).split(separator: " ")
        try "[h1]:2222 \(ec[0]) \(ec[1])\n[h2]:2222 \(rsa[0]) \(rsa[1])\n".write(
            toFile: "\(dir)/kh", atomically: true, encoding: .utf8)
        let policy = SSHHostKeyPolicy(userKnownHostsFiles: ["\(dir)/kh"], globalKnownHostsFiles: [])
        let store = KnownHostsStore()
        let libssh = [
            "ssh-ed25519", "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256", "rsa-sha2-512",
            "rsa-sha2-256", "ssh-rsa",
        ]
        let nothing = await HostKeyCheck.prepare(policy, host: "h0", port: 2222, store: store)
        #expect(
            nothing.algorithms(supported: libssh) == [
                "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256",
            ])
        let ecdsa = await HostKeyCheck.prepare(policy, host: "h1", port: 2222, store: store)
        #expect(ecdsa.algorithms(supported: libssh).first == "ecdsa-sha2-nistp256")
        let rsaKnown = await HostKeyCheck.prepare(policy, host: "h2", port: 2222, store: store)
        #expect(Array(rsaKnown.algorithms(supported: libssh).prefix(2)) == ["rsa-sha2-512", "rsa-sha2-256"])
        // libssh2 1.10 has no rsa-sha2: RSA cannot lead, and the list never offers SHA-1 ssh-rsa.
        let libssh2 = [
            "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519", "ssh-rsa", "ssh-dss",
        ]
        #expect(
            rsaKnown.algorithms(supported: libssh2) == [
                "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
            ])
    }

    @Test("accepted keys and another process appending under flock at the same time: no torn or lost line")
    func concurrentWriters() async throws {
        let dir = try scratchDirectory("kh-writers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await offPool {
            try ProcessRunner.run([Self.keygen, "-q", "-N", "", "-t", "ed25519", "-f", "\(dir)/k"])
        }
        let parts = try String(contentsOfFile: "\(dir)/k.pub", encoding: .utf8).split(separator: " ")
        let key = try #require(Self.key(parts[1]))
        let file = "\(dir)/known_hosts"
        // Another process appends 2,000 whole lines, each in one write under flock, as our writer does.
        let script = """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            for i in range(2000):
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, ("other-%d %s\\n" % (i, sys.argv[2])).encode())
                fcntl.flock(fd, fcntl.LOCK_UN)
            """
        let line = "\(parts[0]) \(parts[1])"
        async let other = offPool { try ProcessRunner.run(["/usr/bin/python3", "-c", script, file, line]) }
        let store = KnownHostsStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask { try await store.accept(key, name: "ours-\(index)", file: file, hashed: index % 2 == 0) }
            }
            try await group.waitForAll()
        }
        _ = try await other
        let text = try #require(FileManager.default.contents(atPath: file))
        let parsed = KnownHostsParser.parse(Array(text), file: file)
        #expect(parsed.skipped.isEmpty, "torn lines: \(parsed.skipped.prefix(3))")
        #expect(parsed.entries.count == 2500)
        let index = KnownHostsIndex(parsed.entries)
        #expect((0..<500).allSatisfy { index.lookup("ours-\($0)").count == 1 })
        #expect(index.lookup("other-1999").count == 1)
    }
}
