import Foundation
import SSHBackend
import SSHTestSupport
import Synchronization
import Testing

@testable import SSHEngineCore
@testable import SSHFileTransfer
@testable import SSHKnownHosts

#if canImport(Glibc)
    import Glibc
#endif

// The parts of docs/reliability.md's threats that need no server: OpenSSH's name rules, known_hosts writes, local
// temporary files, terminal text, and when a jump connection may be shared.

@Suite("Threat: a host or user name runs a command (OpenSSH's rules)")
struct NameRuleTests {
    /// Every printable ASCII character and a few others, judged by OpenSSH's `valid_hostname` and `valid_ruser`
    /// (misc.c, as in OpenSSH 9.6 and Debian 12's 9.2p1 with the CVE-2023-51385 fix), written out here.
    @Test("each character alone and inside a name, as valid_hostname and valid_ruser judge it")
    func characterTable() {
        let hostRefused = Set("'`\"$\\;&<>|(){},")
        let userRefused = Set("'`\";&<>|(){}")
        for value in UInt32(0x20)...0x7E {
            let character = Character(Unicode.Scalar(value)!)
            let inside = "a\(character)b"
            let hostOK = !hostRefused.contains(character) && character != " "
            let userOK = !userRefused.contains(character)
            #expect((SSHNameCheck.hostNameProblem(inside) == nil) == hostOK, "host \(inside)")
            #expect((SSHNameCheck.userNameProblem(inside) == nil) == userOK, "user \(inside)")
        }
        for control in ["\u{0}", "\u{1}", "\t", "\n", "\r", "\u{1B}", "\u{7F}", "\u{85}", "\u{9B}"] {
            #expect(SSHNameCheck.hostNameProblem("a\(control)b") != nil, "host \(control.debugDescription)")
            #expect(SSHNameCheck.userNameProblem("a\(control)b") != nil, "user \(control.debugDescription)")
        }
        // The positional rules.
        #expect(SSHNameCheck.hostNameProblem("-host") == "starts with '-'")
        #expect(SSHNameCheck.hostNameProblem("host-") == nil)
        #expect(SSHNameCheck.userNameProblem("-user") == "starts with '-'")
        #expect(SSHNameCheck.userNameProblem("a -b") == "has '-' after whitespace")
        #expect(SSHNameCheck.userNameProblem("a b") == nil, "whitespace alone is allowed in a user name")
        #expect(SSHNameCheck.userNameProblem("a\\") == "ends with a backslash")
        #expect(SSHNameCheck.userNameProblem("a\\b") == nil)
        #expect(SSHNameCheck.hostNameProblem("") == "is empty")
        #expect(SSHNameCheck.hostNameProblem("münchen.example") == nil, "non-ASCII letters are not control characters")
    }
}

@Suite("Threat: known_hosts poisoned with a pattern")
struct KnownHostsWriteTests {
    private static func hostKey() throws -> SSHHostKey {
        let parts = TestKeys.shared.contents(of: TestKeys.shared.hostKey + ".pub").split(separator: " ")
        let blob = try #require(Data(base64Encoded: String(parts[1])))
        return SSHHostKey(algorithm: String(parts[0]), blob: Array(blob))
    }

    @Test(
        "accept-new never writes a name with a pattern, list or control character, on port 22 or any other; ssh-keygen -F agrees",
        arguments: [22, 2222])
    func patternsNeverWritten(port: Int) async throws {
        let dir = try scratchDirectory("kh-write")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/known_hosts"
        let policy = SSHHostKeyPolicy(mode: .acceptNew, userKnownHostsFiles: [file], globalKnownHostsFiles: [])
        let key = try Self.hostKey()
        for name in ["*", "web?", "!web", "a,b", "a b", "a\tb", "*.example.com", "[x]", "a@b"] {
            let check = await HostKeyCheck.prepare(policy, host: name, port: port, store: KnownHostsStore())
            #expect(
                try await check.decide(key, offered: [key.algorithm]) == .accepted, "\(name): the connection goes on")
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            #expect(text.isEmpty, "\(name) was written")
            let refused = await #expect(throws: SSHError.self) { try await check.record(key) }
            #expect(refused?.code == .invalidArgument, "\(name)")
        }
        let check = await HostKeyCheck.prepare(policy, host: "web1", port: port, store: KnownHostsStore())
        _ = try await check.decide(key, offered: [key.algorithm])
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(written.split(separator: "\n").count == 1, "\(written)")
        for (name, found) in [("web1", true), ("other", false), ("*", false)] {
            let lookup = port == 22 ? name : "[\(name)]:\(port)"
            let result = try await offPool {
                try ProcessRunner.outcome(["/usr/bin/ssh-keygen", "-F", lookup, "-f", file])
            }
            #expect((result.status == 0) == found, "ssh-keygen -F \(lookup): \(result.output)")
        }
    }

    @Test("a known-hosts file that cannot be written: record throws naming it; a connection goes on and is warned")
    func writeFailureSurfaces() async throws {
        let file = "/proc/pssh-no-such-dir/known_hosts"
        let warnings = Mutex<[String]>([])
        var policy = SSHHostKeyPolicy(mode: .acceptNew, userKnownHostsFiles: [file], globalKnownHostsFiles: [])
        policy.warningHandler = { _, _, warning in warnings.withLock { $0.append(warning) } }
        let key = try Self.hostKey()
        let check = await HostKeyCheck.prepare(policy, host: "web1", port: 22, store: KnownHostsStore())
        let error = await #expect(throws: SSHError.self) { try await check.record(key) }
        #expect(error?.message.contains(file) == true, "\(error.map { "\($0)" } ?? "")")
        let other = await HostKeyCheck.prepare(policy, host: "web2", port: 22, store: KnownHostsStore())
        #expect(try await other.decide(key, offered: [key.algorithm]) == .accepted)
        #expect(warnings.withLock { $0 }.first?.contains("failed to add the host to the list of known hosts") == true)
    }
}

@Suite("Threat: a planted file or link under a download's temporary name")
struct TemporaryFileTests {
    @Test("a symlink at the temporary name is replaced, never written through; the file is created with the umask")
    func symlinkNotFollowed() async throws {
        let dir = try scratchDirectory("tmpfile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim"
        try "untouched\n".write(toFile: victim, atomically: true, encoding: .utf8)
        let temporary = dir + "/.download.part"
        try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: victim)
        let file = try await LocalFile.create(temporary, mode: 0o104777, host: "h", port: 22)
        try await file.write(Array("payload".utf8))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched\n")
        var info = stat()
        #expect(lstat(temporary, &info) == 0 && info.st_mode & S_IFMT == S_IFREG)
        let mask = umask(0o022)
        umask(mask)
        #expect(info.st_mode & 0o7777 == 0o777 & ~mask, "\(String(info.st_mode & 0o7777, radix: 8))")
        #expect(PartialDownloads.inProgress.contains(temporary))
        #expect(PartialDownloads.removeAll() >= 1)
        #expect(!FileManager.default.fileExists(atPath: temporary))
    }
}

@Suite("Threat: server text drives the terminal (the sanitiser)")
struct TerminalTextTests {
    @Test("control and escape characters become octal escapes; tab and line breaks stay; text is otherwise unchanged")
    func sanitised() {
        #expect(TerminalText.sanitized("\u{1B}]0;title\u{07}x") == "\\033]0;title\\007x")
        #expect(TerminalText.sanitized("a\tb\nc\r\n") == "a\tb\nc\r\n")
        #expect(TerminalText.sanitized("a\nb", keepingLineBreaks: false) == "a\\012b")
        #expect(TerminalText.sanitized("\u{9B}31m") == "\\302\\23331m", "a C1 CSI, by its UTF-8 bytes")
        #expect(TerminalText.sanitized("\u{7F}") == "\\177")
        #expect(TerminalText.sanitized("plain ünïcode 🙂") == "plain ünïcode 🙂")
        let error = SSHError(
            .fileTransferFailed, host: "h", message: "remote \u{1B}[2Jx failed", nativeMessage: "\u{1B}[31m")
        #expect(!"\(error)".contains("\u{1B}"), "\(error)")
    }
}

@Suite("Threat: a strict client rides an insecure client's jump connection (the pool key)")
struct JumpPoolKeyTests {
    private static func hop(
        _ policy: SSHHostKeyPolicy = SSHHostKeyPolicy(),
        auth: [SSHAuthMethod] = [.privateKeyFile(path: "/k")]
    ) -> SSHConnectionOptions {
        SSHConnectionOptions(host: "bastion", port: 22, user: "u", authMethods: auth, hostKeyPolicy: policy)
    }

    @Test("same settings share a key; any difference in host-key policy, files or credentials gives another")
    func keys() {
        let base = JumpPoolKey.make(engine: "E", hop: Self.hop(), before: [])
        #expect(base == JumpPoolKey.make(engine: "E", hop: Self.hop(), before: []))
        let different: [SSHConnectionOptions] = [
            Self.hop(.insecureAcceptAnything),
            Self.hop(SSHHostKeyPolicy(mode: .acceptNew)),
            Self.hop(SSHHostKeyPolicy(userKnownHostsFiles: ["/other"])),
            Self.hop(SSHHostKeyPolicy(hostKeyAlias: "alias")),
            Self.hop(auth: [.privateKeyFile(path: "/other")]),
            Self.hop(auth: [.privateKeyFile(path: "/k", passphrase: "p")]),
            Self.hop(auth: [.password("a")]),
            Self.hop(auth: [.keyboardInteractive(password: "a")]),
        ]
        var seen: Set<String> = [base]
        for options in different {
            #expect(seen.insert(JumpPoolKey.make(engine: "E", hop: options, before: [])).inserted, "\(options)")
        }
        #expect(
            JumpPoolKey.make(engine: "E", hop: Self.hop(auth: [.password("a")]), before: [])
                != JumpPoolKey.make(engine: "E", hop: Self.hop(auth: [.password("b")]), before: []))
        #expect(
            JumpPoolKey.make(engine: "E", hop: Self.hop(auth: [.keyboardInteractive(password: "a")]), before: [])
                == JumpPoolKey.make(engine: "E", hop: Self.hop(auth: [.keyboardInteractive(password: "a")]), before: [])
        )
        #expect(JumpPoolKey.make(engine: "F", hop: Self.hop(), before: []) != base)
        #expect(JumpPoolKey.make(engine: "E", hop: Self.hop(), before: [Self.hop()]) != base)
        #expect(
            !base.contains("hunter2")
                && !JumpPoolKey.make(engine: "E", hop: Self.hop(auth: [.password("hunter2")]), before: [])
                    .contains("hunter2"),
            "secrets enter the key only as a digest")
    }
}
