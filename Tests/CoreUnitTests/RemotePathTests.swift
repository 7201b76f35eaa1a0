import Foundation
import SSHTestSupport
import Testing

@testable import SSHFileTransfer

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Remote paths with ~, as OpenSSH's scp reads them")
struct RemotePathTests {
    @Test(
        "~ and ~/… are the home directory, ~user/… is that account's, other paths go as written",
        arguments: [
            ("", RemotePath.Meaning.plain(".")),
            ("~", .plain(".")),
            ("~/", .plain(".")),
            ("~//", .plain(".")),
            ("~/x", .plain("x")),
            ("~//x/y", .plain("x/y")),
            ("~/~x", .plain("./~x")),
            ("~bob", .home(user: "bob", rest: "")),
            ("~bob/", .home(user: "bob", rest: "")),
            ("~bob/a/b", .home(user: "bob", rest: "a/b")),
            ("/abs/~x", .plain("/abs/~x")),
            ("rel/x", .plain("rel/x")),
            ("./~x", .plain("./~x")),
        ])
    func meanings(path: String, meaning: RemotePath.Meaning) {
        #expect(RemotePath.meaning(of: path) == meaning)
    }

    @Test("a resolved path means itself: resolving twice changes nothing")
    func idempotent() {
        for path in ["", "~", "~/x", "~/~x", "~//~", "a/~b", "/x"] {
            guard case .plain(let once) = RemotePath.meaning(of: path) else {
                Issue.record("\(path) is not plain")
                continue
            }
            #expect(RemotePath.meaning(of: once) == .plain(once), "\(path)")
        }
    }

    @Test("only user names' characters may follow ~ unquoted")
    func shellSafeUsers() {
        for user in ["root", "pssh-test", "a.b_c", "u1"] { #expect(RemotePath.isShellSafeUser(user), "\(user)") }
        for user in ["", "-x", "a$b", "a b", "a;b", "a'b", "a`b`", "*", "a/b", "ü"] {
            #expect(!RemotePath.isShellSafeUser(user), "\(user)")
        }
    }

    /// What `/bin/sh` makes of `word` (the oracle: the remote shell scp's command goes through).
    private func shell(_ word: String) async throws -> String {
        try await offPool { try ProcessRunner.run(["/bin/sh", "-c", "printf '%s' " + word]) }
    }

    @Test("SCP's shell words: ~user expanded by the shell, everything else taken literally")
    func shellWords() async throws {
        let home = try #require(getpwnam("root")).pointee.pw_dir.map { String(cString: $0) } ?? "/root"
        #expect(try await shell(SCPSession.shellWord("~root")) == home)
        #expect(try await shell(SCPSession.shellWord("~root/a b/$HOME/*")) == home + "/a b/$HOME/*")
        for literal in ["~a$(id)/x", "~a b/x", "./~root", "~;id", "~`id`", "x'y\"z", "~-x/y"] {
            #expect(try await shell(SCPSession.shellWord(literal)) == literal, "\(literal)")
        }
    }

    @Test("SCP's guard stops the command when ~user names no account, and lets it run when it does")
    func userHomeGuard() async throws {
        let missing = try await offPool {
            try ProcessRunner.outcome(["/bin/sh", "-c", SCPSession.userHomeGuard("~pssh-no-such-user/x") + "echo ran"])
        }
        #expect(missing.status != 0)
        #expect(missing.output.contains("~pssh-no-such-user: no such user"))
        #expect(!missing.output.contains("ran"))
        let present = try await offPool {
            try ProcessRunner.run(["/bin/sh", "-c", SCPSession.userHomeGuard("~root/x") + "echo ran"])
        }
        #expect(present == "ran\n")
        #expect(SCPSession.userHomeGuard("x/~root") == "")
        #expect(SCPSession.userHomeGuard("~a$b/x") == "")
    }
}
