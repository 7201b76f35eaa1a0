import SSHBackend
import SSHEventLoop
import Synchronization

/// A scripted in-memory engine for testing code written against `SSHBackend` (the parallel frontend) without
/// servers. Each host answers as its ``FakeHost`` script says; ``FakeBackend/Stats`` records what happened.
/// It is no SSH implementation: the real engines are tested against real sshd.
public final class FakeBackend: SSHBackend {
    /// What the fake saw.
    public struct Stats: Sendable {
        /// Connection attempts per host.
        public var connectAttempts: [String: Int] = [:]
        /// Connects in progress right now, and the most seen at once.
        public var connectsInFlight = 0
        public var maxConnectsInFlight = 0
        /// Commands received, in arrival order, as (host, command).
        public var commands: [(host: String, command: String)] = []
        /// The options of the last connection per host.
        public var options: [String: SSHConnectionOptions] = [:]
        /// Channels closed by the caller.
        public var closedChannels = 0
        /// Sessions connected and not yet closed, and the most seen at once.
        public var openSessions = 0
        public var maxOpenSessions = 0
    }

    public let name = "fake"
    public let libraryVersion = "0"
    public let capabilities: Set<SSHCapability> = [.exec, .pty, .environment, .shell, .exitSignal, .concurrentChannels]
    private let script: @Sendable (String) -> FakeHost
    private let state = Mutex(Stats())

    /// Creates a fake where `script(host)` says how each host behaves.
    public init(_ script: @escaping @Sendable (String) -> FakeHost) {
        self.script = script
    }

    /// A snapshot of what happened so far.
    public var stats: Stats { state.withLock { $0 } }

    public func connect(_ options: SSHConnectionOptions) async throws -> any SSHSession {
        let host = script(options.host)
        // The connect's end is fixed before it is counted: a test that sees the count may advance a manual clock.
        let clock = WaitClock.current
        let connected = clock.now + host.connectDelay
        let attempt = state.withLock { stats in
            stats.connectAttempts[options.host, default: 0] += 1
            stats.connectsInFlight += 1
            stats.maxConnectsInFlight = max(stats.maxConnectsInFlight, stats.connectsInFlight)
            stats.options[options.host] = options
            return stats.connectAttempts[options.host]!
        }
        defer { state.withLock { $0.connectsInFlight -= 1 } }
        try await clock.sleep(until: connected)
        if let error = host.connectError, attempt <= host.failingAttempts {
            throw SSHError(
                error, host: options.host, port: options.port, message: "scripted \(error) failure",
                nativeCode: host.connectNativeCode)
        }
        state.withLock { stats in
            stats.openSessions += 1
            stats.maxOpenSessions = max(stats.maxOpenSessions, stats.openSessions)
        }
        return FakeSession(options: options, host: host, backend: self)
    }

    func recordSessionClose() {
        state.withLock { $0.openSessions -= 1 }
    }

    func record(command: String, host: String) {
        state.withLock { $0.commands.append((host, command)) }
    }

    func recordClose() {
        state.withLock { $0.closedChannels += 1 }
    }
}

/// How one fake host behaves.
public struct FakeHost: Sendable {
    /// What a command produces.
    public struct Run: Sendable {
        public var stdout: [[UInt8]]
        public var stderr: [[UInt8]]
        public var exit: SSHExitStatus
        /// How long the command runs after its output (`nil`: until the channel is closed).
        public var duration: Duration?

        /// A command writing `stdout` and `stderr` (each string one chunk), exiting with `exit` after `duration`.
        public init(
            stdout: [String] = [], stderr: [String] = [], exit: SSHExitStatus = SSHExitStatus(code: 0),
            duration: Duration? = .zero
        ) {
            self.stdout = stdout.map { Array($0.utf8) }
            self.stderr = stderr.map { Array($0.utf8) }
            self.exit = exit
            self.duration = duration
        }
    }

    /// The error code of failing connection attempts, if any.
    public var connectError: SSHError.Code?
    /// How many attempts fail with ``connectError`` before one succeeds (`Int.max`: all).
    public var failingAttempts: Int
    /// The native code of those failures (e.g. a `getaddrinfo` code with `unknownHost`).
    public var connectNativeCode: Int32?
    /// How long each connection attempt takes.
    public var connectDelay: Duration
    /// What each command produces.
    public var run: @Sendable (String) -> Run
    /// The host's files, served by an in-memory SFTP subsystem; `nil`: the `sftp` subsystem is a scripted command
    /// like any other.
    public var files: FakeFiles?

    /// Creates a host script.
    public init(
        connectError: SSHError.Code? = nil, failingAttempts: Int = .max, connectNativeCode: Int32? = nil,
        connectDelay: Duration = .zero, files: FakeFiles? = nil,
        run: @escaping @Sendable (String) -> Run = { _ in Run() }
    ) {
        self.connectError = connectError
        self.failingAttempts = failingAttempts
        self.connectNativeCode = connectNativeCode
        self.connectDelay = connectDelay
        self.files = files
        self.run = run
    }
}

final class FakeSession: SSHSession {
    let options: SSHConnectionOptions
    private let host: FakeHost
    private let backend: FakeBackend
    private let closed = Atomic(false)

    init(options: SSHConnectionOptions, host: FakeHost, backend: FakeBackend) {
        self.options = options
        self.host = host
        self.backend = backend
    }

    func openChannel(_ request: SSHChannelRequest) async throws -> any SSHChannel {
        let command: String
        switch request.kind {
        case .exec(let text): command = text
        case .execBytes(let bytes): command = String(decoding: bytes, as: UTF8.self)
        case .shell: command = "<shell>"
        case .subsystem(let name): command = "<subsystem \(name)>"
        case .directTCPIP(let host, let port): command = "<tunnel \(host):\(port)>"
        }
        backend.record(command: command, host: options.host)
        if case .subsystem("sftp") = request.kind, let files = host.files { return FakeSFTPChannel(files: files) }
        return FakeChannel(run: host.run(command), backend: backend)
    }

    func close() async {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        backend.recordSessionClose()
    }
}

/// A fake channel: its streams deliver the scripted chunks, then end when the command "exits".
final class FakeChannel: SSHChannel {
    let stdout: SSHByteStream
    let stderr: SSHByteStream
    private let run: FakeHost.Run
    private let backend: FakeBackend
    private let ended = OneShot<Void>()

    init(run: FakeHost.Run, backend: FakeBackend) {
        self.run = run
        self.backend = backend
        let ended = self.ended
        stdout = SSHByteStream(FakeSource(chunks: run.stdout, ended: ended))
        stderr = SSHByteStream(FakeSource(chunks: run.stderr, ended: ended))
        if let duration = run.duration {
            // The command's end is fixed now, however late the task below starts.
            let clock = WaitClock.current
            let end = clock.now + duration
            Task {
                try? await clock.sleep(until: end)
                ended.settle(.success(()))
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws {}
    func sendEOF() async throws {}
    func sendSignal(_ name: String) async throws {}

    func exitStatus() async throws -> SSHExitStatus {
        _ = try? await ended.value()
        return run.exit
    }

    var exitResult: Result<SSHExitStatus, SSHError>? { ended.result != nil ? .success(run.exit) : nil }

    func close() async {
        backend.recordClose()
        ended.settle(.success(()))
    }
}

/// Delivers chunks, then waits for the command's end before reporting the end of the stream.
final class FakeSource: SSHByteSource {
    private let chunks: Mutex<[[UInt8]]>
    private let ended: OneShot<Void>

    init(chunks: [[UInt8]], ended: OneShot<Void>) {
        self.chunks = Mutex(chunks)
        self.ended = ended
    }

    func next() async throws -> [UInt8]? {
        if let chunk = chunks.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return chunk }
        try await ended.value()
        return nil
    }
}
