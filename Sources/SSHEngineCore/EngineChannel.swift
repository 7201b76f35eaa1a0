import SSHBackend
import SSHEventLoop

/// The public face of either engine's channel: every call hops onto the loop that owns the channel.
package final class EngineChannel<Native: NativeConnection>: SSHChannel {
    package let stdout: SSHByteStream
    package let stderr: SSHByteStream
    private let driver: LoopBound<ChannelDriver<Native>>
    private let publishedExit: PublishedExit
    package let refusedRequests: SSHRefusedRequests
    /// Keeps the session (and so the connection) open while the channel is in use.
    private let session: any SSHSession
    /// The connection's options (the host and port errors name).
    private var options: SSHConnectionOptions { session.options }

    /// Wraps a running channel of `session`, whose streams and exit are `outlets`.
    init(
        _ driver: LoopBound<ChannelDriver<Native>>, outlets: ChannelCore.Outlets, refused: SSHRefusedRequests,
        session: any SSHSession
    ) {
        self.driver = driver
        self.refusedRequests = refused
        self.session = session
        stdout = SSHByteStream(outlets.stdout)
        stderr = SSHByteStream(outlets.stderr)
        publishedExit = outlets.exit
    }

    package var exitResult: Result<SSHExitStatus, SSHError>? { publishedExit.result }

    deinit {
        driver.execute { $0.close(nil) }
    }

    package func write(_ bytes: [UInt8]) async throws {
        try await driver.withContinuation { $0.write(bytes, $1) }
    }

    package func sendEOF() async throws {
        try await driver.withContinuation { $0.requestEOF($1) }
    }

    package func sendSignal(_ name: String) async throws {
        let bare = name.hasPrefix("SIG") ? String(name.dropFirst(3)) : name
        guard !bare.isEmpty, bare.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw SSHError(
                .invalidArgument, host: options.host, port: options.port,
                message: "\"\(name)\" is not a signal name (expected e.g. TERM, KILL, HUP)")
        }
        try await driver.withContinuation { $0.sendSignal(bare, $1) }
    }

    package func exitStatus() async throws -> SSHExitStatus {
        let waiter = WaiterID()
        return try await withTaskCancellationHandler {
            try await driver.withContinuation { driver, continuation in
                if let id = driver.waitForExit(continuation), waiter.register(id) { driver.core.cancelExitWaiter(id) }
            }
        } onCancel: {
            if let id = waiter.cancel() { driver.execute { $0.core.cancelExitWaiter(id) } }
        }
    }

    package func close() async {
        _ = try? await driver.withContinuation { $0.close($1) }
    }
}
