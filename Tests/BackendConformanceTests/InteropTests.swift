import Foundation
import SSHBackend
import SSHTestSupport
import Testing

/// The same everyday work against servers nobody here wrote: OpenSSH, Dropbear, TinySSH and asyncssh, on every
/// engine. Where an engine cannot talk to a server at all (libssh2 1.10 has none of TinySSH's ciphers), every case
/// asserts the error instead: the handshake fails naming what the server offered and what the engine has.
@Suite("Interoperability", .serialized)
struct InteropTests {
    static let cases: [(InteropServer.Kind, Engine)] = InteropServer.Kind.allCases.flatMap { kind in
        Engine.all.map { (kind, $0) }
    }

    @Test("stdout and stderr apart; exit codes 0, 1, 42 and 255", arguments: cases)
    func exec(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let connections = try await Connections(kind, engine) else { return }
        let result = try await run(try await connections.next(), "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
        #expect(result.stdout == "out1\nout2\n")
        #expect(result.stderr == "err1\nerr2\n")
        for code in [0, 1, 42, 255] as [Int32] {
            let exit = try await run(try await connections.next(), "exit \(code)").exit
            #expect(exit == SSHExitStatus(code: code))
        }
        await connections.close()
    }

    @Test("TinySSH serves one channel per connection: the next one fails saying so", arguments: Engine.all)
    func oneChannelPerConnection(engine: Engine) async throws {
        guard let session = try await Self.connect(.tinyssh, engine) else { return }
        #expect(try await run(session, "echo first").stdout == "first\n")
        // Refused by TinySSH while the first channel is still closing; once it has closed, TinySSH hangs up.
        do {
            _ = try await run(session, "echo second")
            Issue.record("a second channel on one TinySSH connection succeeded")
        } catch let error as SSHError where error.code == .channelOpenRefused {
            #expect(error.message.contains("only one 'session' channel allowed"), "\(error)")
        } catch let error as SSHError where error.code == .connectionLost {
            #expect(error.message.contains("serve a single channel per connection"), "\(error)")
        }
        await session.close()
    }

    @Test("stdin through cat, ended by EOF", arguments: cases)
    func stdin(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let session = try await Self.connect(kind, engine) else { return }
        let channel = try await session.exec("cat; echo done")
        let payload = (0..<5000).map { "line \($0) of stdin\n" }.joined()
        async let echoed = channel.stdout.collect()
        try await channel.write(Array(payload.utf8))
        try await channel.sendEOF()
        #expect(String(decoding: try await echoed, as: UTF8.self) == payload + "done\n")
        #expect(try await channel.exitStatus() == SSHExitStatus(code: 0))
        await session.close()
    }

    @Test("a PTY with the requested terminal type and size", arguments: cases)
    func pty(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let session = try await Self.connect(kind, engine) else { return }
        defer { Task { await session.close() } }
        if let reason = try await Self.ptyUnusable(kind) { try Test.cancel(Comment(rawValue: reason)) }
        let result = try await run(
            session, "tty; echo $TERM; stty size",
            pty: SSHPTYRequest(term: "xterm-256color", columns: 132, rows: 43))
        let lines = result.stdout.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.first?.hasPrefix("/dev/pts/") == true, "\(lines)")
        #expect(lines.contains("xterm-256color"))
        #expect(lines.contains("43 132"))
        #expect(result.exit == SSHExitStatus(code: 0))
    }

    @Test("10 MB of output arrives whole", arguments: cases)
    func bulkOutput(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let session = try await Self.connect(kind, engine) else { return }
        let channel = try await session.exec("head -c 10485760 /dev/zero | tr '\\0' x")
        var count = 0
        var onlyX = true
        for try await chunk in channel.stdout {
            count += chunk.count
            onlyX = onlyX && chunk.allSatisfy { $0 == UInt8(ascii: "x") }
        }
        #expect(count == 10_485_760)
        #expect(onlyX)
        #expect(try await channel.exitStatus() == SSHExitStatus(code: 0))
        await session.close()
    }

    @Test("a command killed by a signal reports the signal", arguments: cases)
    func signal(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let session = try await Self.connect(kind, engine) else { return }
        let result = try await run(session, "echo before; kill -TERM $$; echo after")
        #expect(result.stdout == "before\n")
        #expect(result.exit.signal == "TERM", "\(result.exit)")
        #expect(result.exit.code == nil)
        await session.close()
    }

    @Test("SFTP and SCP round trips of 1 MiB + 7, compared with cmp", arguments: cases)
    func transfers(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let connections = try await Connections(kind, engine) else { return }
        let dir = try scratchDirectory("interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try randomFile("\(dir)/local", size: 1024 * 1024 + 7)
        for transfer in TransferProtocol.all {
            try await transfer.upload(try await connections.next(), "\(dir)/local", "\(dir)/remote-\(transfer.name)")
            #expect(try await filesEqual("\(dir)/local", "\(dir)/remote-\(transfer.name)"), "\(transfer.name) upload")
            try await transfer.download(
                try await connections.next(), "\(dir)/remote-\(transfer.name)",
                "\(dir)/back-\(transfer.name)")
            #expect(try await filesEqual("\(dir)/local", "\(dir)/back-\(transfer.name)"), "\(transfer.name) download")
        }
        await connections.close()
    }

    @Test(
        "every case in sequence on one connection, as users run them: stderr and exit 3, cat with EOF, 10 MB, a PTY, then SFTP and SCP",
        arguments: cases)
    func sequenceOnOneConnection(kind: InteropServer.Kind, engine: Engine) async throws {
        guard let connections = try await Connections(kind, engine) else { return }
        let first = try await run(try await connections.next(), "echo out; echo err >&2; exit 3")
        #expect(first.stdout == "out\n" && first.stderr == "err\n" && first.exit == SSHExitStatus(code: 3))
        let cat = try await connections.next().exec("cat")
        async let echoed = cat.stdout.collect()
        try await cat.write(Array("through cat\n".utf8))
        try await cat.sendEOF()
        #expect(String(decoding: try await echoed, as: UTF8.self) == "through cat\n")
        #expect(try await cat.exitStatus() == SSHExitStatus(code: 0))
        let bulk = try await run(try await connections.next(), "head -c 10485760 /dev/zero | tr '\\0' x")
        #expect(bulk.stdout.utf8.count == 10_485_760)
        if try await Self.ptyUnusable(kind) == nil {
            let tty = try await run(try await connections.next(), "tty", pty: SSHPTYRequest())
            #expect(tty.stdout.hasPrefix("/dev/pts/"), "\(tty.stdout)")
        }
        let dir = try scratchDirectory("interop-sequence")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try randomFile("\(dir)/local", size: 100_000)
        for transfer in TransferProtocol.all {
            try await transfer.upload(try await connections.next(), "\(dir)/local", "\(dir)/remote-\(transfer.name)")
            #expect(try await filesEqual("\(dir)/local", "\(dir)/remote-\(transfer.name)"), "\(transfer.name) upload")
        }
        await connections.close()
    }

    @Test("docs/feature-matrix.md has a row for every server of this suite, and no other")
    func matrixRows() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/feature-matrix.md"), encoding: .utf8)
        let section = try #require(
            text.components(separatedBy: "## Servers").dropFirst().first?
                .components(separatedBy: "\n## ").first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| Server") }
            .map { $0.split(separator: "|").first?.trimmingCharacters(in: .whitespaces) ?? "" }
        #expect(rows == InteropServer.Kind.allCases.map(\.rawValue))
    }

    /// Sessions for one case's commands: one connection for all of them, except on a server that serves one
    /// channel per connection (TinySSH), where each command gets a new one.
    final class Connections: @unchecked Sendable {
        private let kind: InteropServer.Kind
        private let engine: Engine
        private var current: (any SSHSession)?

        /// `nil` where the engine cannot talk to the server (the error asserted).
        init?(_ kind: InteropServer.Kind, _ engine: Engine) async throws {
            guard let first = try await InteropTests.connect(kind, engine) else { return nil }
            self.kind = kind
            self.engine = engine
            current = first
        }

        /// The session for the next command.
        func next() async throws -> any SSHSession {
            defer { used = true }
            if let current, !used || kind != .tinyssh { return current }
            await current?.close()
            let session = try await engine.backend.connect(try await InteropServer.shared(kind).options())
            current = session
            return session
        }

        private var used = false

        func close() async { await current?.close() }
    }

    /// Connects to the server of `kind`, or, where `engine` cannot talk to it, asserts the error that says why and
    /// returns `nil`. Cancels the case (with the reason) where the server cannot run here.
    static func connect(_ kind: InteropServer.Kind, _ engine: Engine) async throws -> (any SSHSession)? {
        if let reason = kind.unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
        let server = try await InteropServer.shared(kind)
        guard kind == .tinyssh && engine.backend.name == "libssh2" else {
            return try await engine.backend.connect(server.options())
        }
        let error = await expectSSHError(.handshakeFailed) { try await engine.backend.connect(server.options()) }
        let message = error?.message ?? ""
        #expect(
            message.contains("no common cipher: the server offers chacha20-poly1305@openssh.com; libssh2 1.10"),
            "\(message)")
        #expect(message.contains("aes256-ctr"))
        #expect(message.contains("use the libssh engine"))
        return nil
    }

    /// Why a PTY cannot be tested against `kind` here, or `nil`: OpenSSH's own `ssh -tt` is the oracle, so a
    /// server whose PTY fails for it too (TinySSH's, in a container whose `/dev/pts` it cannot use) is not held
    /// against the engines.
    static func ptyUnusable(_ kind: InteropServer.Kind) async throws -> String? {
        guard kind == .tinyssh else { return nil }
        let server = try await InteropServer.shared(kind)
        let (status, output) = try await offPool {
            try ProcessRunner.outcome([
                "/usr/bin/ssh", "-F", TestKeys.shared.sshConfig, "-i", TestKeys.shared.ed25519,
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-tt", "-p", "\(server.port)",
                "\(server.user)@\(server.host)", "tty",
            ])
        }
        if status == 0 && output.contains("/dev/pts/") { return nil }
        return "\(kind)'s PTY fails here for OpenSSH's own ssh -tt too (exit \(status): \(output.prefix(200)))"
    }
}
