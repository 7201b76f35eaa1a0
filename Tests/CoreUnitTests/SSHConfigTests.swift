import Foundation
import SSHBackend
import SSHTestSupport
import Testing

@testable import SSHConfig

/// The ssh_config evaluator against OpenSSH's own: for a corpus of files and hosts, every keyword this package
/// acts on evaluates to what `ssh -G -F file host` prints.
@Suite("ssh_config (ssh -G as the oracle)", .timeLimit(.minutes(10)))
struct SSHConfigTests {
    /// The keywords compared: those `SSHResolvedConfig.sshG` prints.
    private static var keywords: Set<String> { Set(ConfigKeywords.actedOn) }

    /// `ssh -G` output for `host`, limited to `keywords`, keywords lowercased.
    private func oracle(_ file: String, _ host: String, user: String? = nil, port: Int? = nil) async throws -> [String]
    {
        var arguments = ["/usr/bin/ssh", "-G", "-F", file]
        if let user { arguments += ["-l", user] }
        if let port { arguments += ["-p", String(port)] }
        // Off Swift's cooperative threads, which other tests' timers need.
        let command = arguments + [host]
        let output = try await offPool { try ProcessRunner.run(command) }
        return output.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard let keyword = parts.first?.lowercased(), Self.keywords.contains(keyword) else { return nil }
            return keyword + " " + (parts.count > 1 ? String(parts[1]) : "")
        }
    }

    private func compare(_ file: String, hosts: [(String, String?, Int?)]) async throws -> Int {
        let resolver = SSHConfigResolver()
        var compared = 0
        for (host, user, port) in hosts {
            let ours = try await resolver.resolve(host: host, user: user, port: port, source: .file(file)).sshG
            let theirs = try await oracle(file, host, user: user, port: port)
            #expect(
                ours.sorted() == theirs.sorted(),
                "\(host) \(user ?? "") \(port.map(String.init) ?? ""): ours \(Set(ours).subtracting(theirs).sorted()), ssh -G \(Set(theirs).subtracting(ours).sorted())"
            )
            compared += 1
        }
        return compared
    }

    @Test("the typed accessors read each keyword as ssh -G prints it, set and at OpenSSH's defaults")
    func typedAccessors() async throws {
        let dir = try scratchDirectory("config-typed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases = [
            """
            StrictHostKeyChecking accept-new
            AddressFamily inet6
            RequestTTY force
            IdentitiesOnly yes
            PreferredAuthentications password,publickey
            PubkeyAuthentication no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            ConnectionAttempts 4
            ServerAliveCountMax 7
            Compression yes
            HashKnownHosts yes
            HostKeyAlias alias1
            ProxyJump j1,j2
            ConnectTimeout 9
            GSSAPIAuthentication yes
            GSSAPIDelegateCredentials yes
            GSSAPIServerIdentity gw.example.org
            GSSAPIClientIdentity alice@EXAMPLE.ORG
            ForwardAgent yes
            """,
            "StrictHostKeyChecking no\nAddressFamily inet\nRequestTTY yes\nCompression no\nForwardAgent /tmp/agent.sock",
            "StrictHostKeyChecking yes\nRequestTTY no\nForwardAgent $AGENT\nGSSAPIAuthentication no",
            "",
        ]
        for (index, body) in cases.enumerated() {
            let file = "\(dir)/config-\(index)"
            let text = "Host *\n" + body.split(separator: "\n").map { "    \($0)\n" }.joined()
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let ours = try await SSHConfigResolver().resolve(host: "h", source: .file(file))
            let lines = try await offPool { try ProcessRunner.run(["/usr/bin/ssh", "-G", "-F", file, "h"]) }
            var theirs: [String: String] = [:]
            for line in lines.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                if parts.count == 2 { theirs[parts[0]] = parts[1] }
            }
            let strict: [SSHResolvedConfig.StrictHostKeyChecking?: String] = [
                .acceptNew: "accept-new", .no: "false", .yes: "true", .ask: "ask", nil: "ask",
            ]
            #expect(strict[ours.strictHostKeyChecking] == theirs["stricthostkeychecking"], "case \(index)")
            let family: [SSHResolvedConfig.AddressFamily?: String] = [
                .inet6: "inet6", .inet: "inet", .any: "any", nil: "any",
            ]
            #expect(family[ours.addressFamily] == theirs["addressfamily"], "case \(index)")
            #expect(ours.requestsTTY == ["yes", "true", "force"].contains(theirs["requesttty"] ?? ""), "case \(index)")
            let yes = { (keyword: String) in ["yes", "true"].contains(theirs[keyword] ?? "") }
            #expect(ours.identitiesOnly == yes("identitiesonly"), "case \(index)")
            #expect(ours.pubkeyAuthentication == yes("pubkeyauthentication"), "case \(index)")
            #expect(ours.passwordAuthentication == yes("passwordauthentication"), "case \(index)")
            #expect(ours.kbdInteractiveAuthentication == yes("kbdinteractiveauthentication"), "case \(index)")
            #expect(ours.hashKnownHosts == yes("hashknownhosts"), "case \(index)")
            #expect((ours.compression ?? false) == yes("compression"), "case \(index)")
            #expect((ours.connectionAttempts ?? 1) == Int(theirs["connectionattempts"] ?? ""), "case \(index)")
            #expect((ours.serverAliveCountMax ?? 3) == Int(theirs["serveralivecountmax"] ?? ""), "case \(index)")
            #expect(ours.connectTimeout == Int(theirs["connecttimeout"] ?? ""), "case \(index)")
            #expect(ours.hostKeyAlias == theirs["hostkeyalias"], "case \(index)")
            #expect(ours.proxyJump == theirs["proxyjump"], "case \(index)")
            #expect((ours.gssapiAuthentication ?? false) == yes("gssapiauthentication"), "case \(index)")
            #expect((ours.gssapiDelegateCredentials ?? false) == yes("gssapidelegatecredentials"), "case \(index)")
            #expect(ours.gssapiServerIdentity == theirs["gssapiserveridentity"], "case \(index)")
            #expect(ours.gssapiClientIdentity == theirs["gssapiclientidentity"], "case \(index)")
            #expect((ours.forwardAgent ?? "no") == theirs["forwardagent"], "case \(index)")
            // And sshG, keyword by keyword, as ssh -G prints the ones acted on.
            #expect(try await compare(file, hosts: [("h", nil, nil)]) == 1)
            if let preferred = ours.preferredAuthentications {
                #expect(preferred.joined(separator: ",") == theirs["preferredauthentications"], "case \(index)")
            }
        }
    }

    @Test(
        "a hand-written corpus: Host with negation, Match host/originalhost/user/localuser/final, Include, tokens, quoting, =, first wins, SendEnv removal, SetEnv"
    )
    func handWritten() async throws {
        let dir = try scratchDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/conf.d", withIntermediateDirectories: true)
        try "Host included-*\n  Port 2299\n  User from-include\n".write(
            toFile: "\(dir)/conf.d/a.conf", atomically: true, encoding: .utf8)
        let text = """
            # a comment
            Host web-* !web-9
                User deploy
                Port 2201
                IdentityFile ~/.ssh/id_%h
                IdentityFile ~/.ssh/shared
            Host db1
                HostName %h.internal.example.com
                User = postgres
                Port=5433
            Host *.example.com
                UserKnownHostsFile ~/.ssh/kh_%h /tmp/kh2-%p-%r
                StrictHostKeyChecking accept-new
            Match host "*.internal.example.com"
                HashKnownHosts yes
                ConnectTimeout 7
            Match originalhost db1 user postgres
                ServerAliveInterval 15
            Match !localuser nobody-at-all
                Compression yes
            Match exec "test %h = cmd" host cmd
                ConnectionAttempts 4
            Match host nothing-matches exec "touch \(dir)/must-not-run"
                ConnectionAttempts 5
            Host quoted
                HostName "quoted.example.com"
                SendEnv LANG LC_*
                SendEnv -LC_*
                SetEnv FOO=1 BAR="two words" FOO=3
                HostKeyAlias quoted-alias
            Host jump-*
                ProxyJump bastion1,bastion2
                ProxyCommand nc %h %p
            Host cmd
                ProxyCommand ssh -W %h:%p gateway
                IdentityAgent none
                CertificateFile ~/certs/%h-cert.pub
            Host web-1 db1
                User ignored-second
                Ciphers +aes128-cbc
                MACs -*etm*
            Host db1 quoted
                KexAlgorithms ^curve25519-sha256
                HostKeyAlgorithms -*cert*,ssh-ed25519
            Include \(dir)/conf.d/*.conf
            Match final host web-*
                IdentitiesOnly yes
            Host *
                PasswordAuthentication no
                AddressFamily inet
                RequestTTY no
                ConnectionAttempts 2
                ServerAliveCountMax 5
                BatchMode yes
                KbdInteractiveAuthentication no
                PubkeyAuthentication yes
                PreferredAuthentications publickey,password
                GlobalKnownHostsFile /etc/ssh/other_known_hosts
            """
        let file = "\(dir)/config"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let hosts: [(String, String?, Int?)] = [
            ("web-1", nil, nil), ("web-9", nil, nil), ("WEB-1", nil, nil), ("db1", nil, nil),
            ("a.example.com", nil, nil),
            ("x.internal.example.com", nil, nil), ("quoted", nil, nil), ("jump-1", nil, nil), ("cmd", nil, nil),
            ("included-3", nil, nil), ("other", nil, nil), ("db1", "alice", 2222), ("web-2", "bob", nil),
        ]
        let compared = try await compare(file, hosts: hosts)
        #expect(compared == hosts.count)
        // Match exec is skipped once an earlier criterion of the line failed, by ssh -G and by us.
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/must-not-run"))
    }

    @Test("a generated corpus: random blocks of Host patterns and values, first wins, against ssh -G")
    func generated() async throws {
        let dir = try scratchDirectory("config-gen")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var generator = SeededGenerator(seed: 20_261_128)
        let patterns = ["*", "h?", "h1*", "!h12", "*.lan", "h2.lan", "x*", "h1 h2", "!h1 *"]
        let settings = [
            "User u%d", "Port 22%d", "Compression yes", "Compression no", "HostName n%d.%h",
            "ConnectTimeout %d", "StrictHostKeyChecking no", "IdentityFile ~/.ssh/k%d", "SendEnv V%d",
            "HashKnownHosts yes", "RequestTTY force", "ServerAliveInterval %d", "AddressFamily inet6",
            "UserKnownHostsFile /k/%d/%h", "IdentitiesOnly yes", "BatchMode yes", "Ciphers ^aes256-ctr",
            "MACs -umac*", "KexAlgorithms +diffie-hellman-group14-sha1", "HostKeyAlgorithms ssh-ed25519,rsa-sha2-512",
            "Ciphers aes128-ctr,aes256-gcm@openssh.com",
        ]
        var total = 0
        for round in 0..<6 {
            var lines: [String] = []
            for _ in 0..<12 {
                lines.append("Host " + patterns[Int.random(in: 0..<patterns.count, using: &generator)])
                for _ in 0..<3 {
                    let setting = settings[Int.random(in: 0..<settings.count, using: &generator)]
                    lines.append(
                        "    "
                            + setting.replacingOccurrences(
                                of: "%d", with: String(Int.random(in: 1..<9, using: &generator))))
                }
            }
            let file = "\(dir)/config-\(round)"
            try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o600)
            total += try await compare(file, hosts: ["h1", "h12", "h2.lan", "x9", "zz", "H1"].map { ($0, nil, nil) })
        }
        #expect(total == 36)
    }

    @Test(
        "a Match exec command that hangs is killed at the resolver's timeout and fails the host, naming file, line and command"
    )
    func matchExecTimeout() async throws {
        let dir = try scratchDirectory("config-exec")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/config"
        // Without the timeout the command would end after 300 s, holding (exit 0): the test would fail by its limit.
        try "Match exec \"sleep 300\"\n    Port 2201\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let resolver = SSHConfigResolver(matchExecTimeout: .milliseconds(200))
        let error = await #expect(throws: SSHError.self) { try await resolver.resolve(host: "h", source: .file(file)) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("\(file) line 1") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(
            error?.message.contains("'sleep 300' ran longer than 0.2 seconds and was killed") == true,
            "\(error.map { "\($0)" } ?? "")")
    }

    @Test("errors name file and line: unknown keyword, bad value, bad quotes; IgnoreUnknown; unsafe permissions")
    func errors() async throws {
        let dir = try scratchDirectory("config-err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let resolver = SSHConfigResolver()
        for (text, fragment) in [
            ("Host *\n  Bogusword yes\n", "line 2: Bad configuration option: bogusword"),
            ("Port abc\n", "line 1: Badly formatted port number"),
            ("User \"unterminated\n", "line 1: invalid quotes"),
            ("Host x\n\nCompression maybe\n", "line 3: Bad yes/no argument"),
        ] {
            let file = "\(dir)/bad-\(fragment.count)"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o600)
            let error = await #expect(throws: SSHError.self) {
                try await resolver.resolve(host: "h", source: .file(file))
            }
            #expect(error?.message.contains("\(file) \(fragment)") == true, "\(error.map { "\($0)" } ?? "")")
            let refused = try await offPool {
                try ProcessRunner.outcome(["/usr/bin/ssh", "-G", "-F", file, "h"]).status != 0
            }
            #expect(refused, "ssh -G refuses it too")
        }
        let ignoring = "\(dir)/ignoring"
        try "IgnoreUnknown bogus*\nBogusword yes\nUser ok\n".write(toFile: ignoring, atomically: true, encoding: .utf8)
        chmod(ignoring, 0o600)
        #expect(try await resolver.resolve(host: "h", source: .file(ignoring)).user == "ok")
        let writable = "\(dir)/writable"
        try "User x\n".write(toFile: writable, atomically: true, encoding: .utf8)
        chmod(writable, 0o666)
        let unsafe = await #expect(throws: SSHError.self) {
            try await resolver.resolve(host: "h", source: .file(writable))
        }
        #expect(unsafe?.message.contains("Bad owner or permissions") == true)
    }

    @Test("the keyword table is OpenSSH's: every keyword in it is accepted by the local ssh")
    func keywordTable() async throws {
        try await offPool { try self.keywordTableAlone() }
    }

    private func keywordTableAlone() throws {
        for keyword in ConfigKeywords.known.sorted() where !["host", "match", "include"].contains(keyword) {
            let error = try ProcessRunner.outcome(["/usr/bin/ssh", "-G", "-F", "none", "-o", "\(keyword)=x", "h"])
                .output
            #expect(!error.contains("Bad configuration option"), "\(keyword)")
        }
    }
}

/// A deterministic generator, so a failing corpus can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state ^ (state >> 33)
    }
}
