import SSHBackend
import SSHEventLoop
import Testing

@testable import SSHEngineCore

/// The connection and channel drivers against a scripted native engine: the order of the close sequence, what
/// every waiter learns, deadlines and backpressure, with no server and no C library.
@Suite("Connection and channel drivers", .timeLimit(.minutes(10)))
struct DriverTests {
    typealias Driver = ConnectionDriver<ScriptedConnection>

    static let options = SSHConnectionOptions(
        host: "scripted.example", port: 2222, authMethods: [.password("x")],
        operationTimeout: .milliseconds(200))

    /// A connection driver on the test loop with one running channel (created on the loop).
    static func openChannel(capacity: Int = 1 << 20, options: SSHConnectionOptions = options)
        async throws -> (Box<Driver>, Box<ChannelDriver<ScriptedConnection>>, Box<ScriptedChannel>)
    {
        let driverBox = try await onLoop { Box(Driver(loop: testLoop, options: options, streamCapacity: capacity)) }
        let channel = try await withCheckedThrowingContinuation { continuation in
            testLoop.execute {
                driverBox.value.openChannel(SSHChannelRequest(kind: .exec("true"))) { result in
                    continuation.resume(with: result.map { Box($0) })
                }
            }
        }
        let native = try await onLoop { Box(driverBox.value.native.opened[0]) }
        return (driverBox, channel, native)
    }

    @Test(
        "remote EOF: output is delivered, our CLOSE goes out; after the server's CLOSE the exit status is settled before the streams end, then the channel is freed"
    )
    func closeAfterRemoteEOF() async throws {
        let (driver, channel, native) = try await Self.openChannel()
        try await onLoop {
            native.value.pending[.stdout] = [Array("hello ".utf8), Array("world".utf8)]
            native.value.pending[.stderr] = [Array("oops".utf8)]
            native.value.exit = .success(SSHExitStatus(code: 3))
            native.value.remoteEOF = true
            driver.value.drive()
        }
        let stdout = channel.value.core.stdout
        #expect(try await stdout.next() == Array("hello ".utf8))
        #expect(try await stdout.next() == Array("world".utf8))
        // Our CLOSE went out; the exit status and the end of the streams wait for the server's.
        try await onLoop {
            #expect(native.value.calls == ["close"])
            #expect(channel.value.core.exit == nil)
            #expect(!stdout.isFinished)
        }
        try await onLoop {
            native.value.remoteClosed = true
            driver.value.drive()
        }
        #expect(try await stdout.next() == nil)
        // A reader who saw the end of stdout finds the exit status published, without waiting.
        #expect(try channel.value.core.publishedExit.result?.get().code == 3)
        #expect(try await channel.value.core.stderr.collectAll() == Array("oops".utf8))
        try await onLoop {
            #expect(native.value.calls == ["close", "exit", "free"])
            #expect(channel.value.isFinished)
        }
    }

    @Test("the server hangs up right after EOF and exit: output and exit status are kept, the loss explains itself")
    func hangUpAfterExit() async throws {
        let (driver, channel, native) = try await Self.openChannel()
        try await onLoop {
            native.value.pending[.stdout] = [Array("last words".utf8)]
            native.value.exit = .success(SSHExitStatus(code: 3))
            native.value.remoteEOF = true
            driver.value.native.transportFailure = SSHError(.connectionLost, message: "Socket error: disconnected")
            driver.value.drive()
        }
        #expect(try await channel.value.core.stdout.collectAll() == Array("last words".utf8))
        #expect(try channel.value.core.publishedExit.result?.get().code == 3)
        let failure = try await onLoop { driver.value.failure }
        #expect(failure?.code == .connectionLost)
        #expect(failure?.message.contains("hung up once its last channel had ended") == true)
    }

    @Test("the server hangs up while a command runs: its streams and exit fail with connectionLost")
    func hangUpWhileRunning() async throws {
        let (driver, channel, native) = try await Self.openChannel()
        try await onLoop {
            native.value.pending[.stdout] = [Array("partial".utf8)]
            driver.value.native.transportFailure = SSHError(.connectionLost, message: "Socket error: disconnected")
            driver.value.drive()
        }
        await #expect(throws: SSHError.self) { try await channel.value.core.stdout.collectAll() }
        #expect(throws: SSHError.self) { try channel.value.core.publishedExit.result?.get() }
        let failure = try await onLoop { driver.value.failure }
        #expect(failure?.message.contains("hung up") == false)
    }

    @Test("a caller's close while the command runs returns at once; the exit status fails with sessionClosed")
    func closeByCaller() async throws {
        let (driver, channel, native) = try await Self.openChannel()
        // Someone waits for the exit status (before or after the close: the answer is the same).
        let exit = Task {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SSHExitStatus, any Error>) in
                testLoop.execute { _ = channel.value.core.waitForExit(continuation) }
            }
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            testLoop.execute { channel.value.close(continuation) }
        }
        try await onLoop {
            #expect(native.value.calls == ["close", "free"])
            #expect(channel.value.isFinished)
            #expect(driver.value.failure == nil, "the connection stays up")
        }
        let error = await #expect(throws: SSHError.self) { try await exit.value }
        #expect(error?.code == .sessionClosed)
    }

    @Test("stdin is written in pieces the window takes, and EOF follows the last byte")
    func writesThenEOF() async throws {
        let (_, channel, native) = try await Self.openChannel()
        try await onLoop { native.value.window = 4 }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            testLoop.execute { channel.value.write(Array("0123456789".utf8), continuation) }
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            testLoop.execute { channel.value.requestEOF(continuation) }
        }
        try await onLoop {
            #expect(native.value.written == Array("0123456789".utf8))
            #expect(native.value.calls == ["write 4", "write 4", "write 2", "eof"])
        }
    }

    @Test("a lost transport during a read ends the connection once: every waiter learns connectionLost")
    func connectionLost() async throws {
        let (driver, channel, native) = try await Self.openChannel()
        let lost = SSHError(.connectionLost, host: "scripted.example", port: 2222, message: "gone")
        try await onLoop {
            native.value.readError = lost
            driver.value.drive()
            driver.value.drive()
        }
        await #expect(throws: SSHError.self) { try await channel.value.core.stdout.collectAll() }
        try await onLoop {
            #expect(driver.value.failure?.code == .connectionLost)
            #expect(driver.value.native.teardowns == [false], "torn down once, without a goodbye")
            #expect(native.value.calls == ["detach"])
            #expect(channel.value.isFinished)
            if case .failure(let error)? = channel.value.core.exit {
                #expect(error.code == .connectionLost)
            } else {
                Issue.record("the exit status should have failed")
            }
        }
    }

    @Test(
        "a session channel the server closes as it confirms it (Dropbear before 2024.86) is discarded before any request and opened again; past three, the open is refused",
        arguments: [1, 3, 4])
    func closedAsConfirmed(times: Int) async throws {
        let driver = try await onLoop { Box(Driver(loop: testLoop, options: Self.options, streamCapacity: 1024)) }
        try await onLoop { driver.value.native.closedAsConfirmed = times }
        let result = await withCheckedContinuation { continuation in
            testLoop.execute {
                driver.value.openChannel(SSHChannelRequest(kind: .exec("true"))) { result in
                    continuation.resume(returning: result.map { Box($0) })
                }
            }
        }
        let opened = try await onLoop { driver.value.native.opened.map { Box($0) } }
        if times <= OpenChannelOperation<ScriptedConnection>.maximumReopenings {
            _ = try result.get()
            #expect(opened.count == times + 1)
            try await onLoop {
                for closed in opened.dropLast() { #expect(!closed.value.started) }
                #expect(opened.last?.value.started == true)
            }
        } else {
            #expect(throws: SSHError.self) { try result.get() }
            #expect((try? result.get()) == nil)
            if case .failure(let error as SSHError) = result { #expect(error.code == .channelOpenRefused) }
            #expect(opened.count == OpenChannelOperation<ScriptedConnection>.maximumReopenings + 1)
            try await onLoop { #expect(!opened.contains { $0.value.started }) }
        }
    }

    @Test("an operation that never finishes times out naming what it was doing, and fails the connection")
    func operationDeadline() async throws {
        let driver = try await onLoop { Box(Driver(loop: testLoop, options: Self.options, streamCapacity: 1024)) }
        try await onLoop { driver.value.native.openBlocks = true }
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: SSHError.self) {
            _ = try await withCheckedThrowingContinuation { continuation in
                testLoop.execute {
                    driver.value.openChannel(SSHChannelRequest(kind: .exec("true"))) { result in
                        continuation.resume(with: result.map { _ in 0 })
                    }
                }
            }
        }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("opening a channel") == true, "\(String(describing: error))")
        #expect(clock.now - start >= .milliseconds(200))
        #expect(try await onLoop { driver.value.failure?.code } == .timeout)
    }

    @Test("output nobody reads stops being read at the stream's capacity, and reading resumes it")
    func backpressure() async throws {
        let (driver, channel, native) = try await Self.openChannel(capacity: 1024)
        try await onLoop {
            native.value.pending[.stdout] = Array(repeating: [UInt8](repeating: 1, count: 512), count: 10)
            driver.value.drive()
            #expect(native.value.pending[.stdout]?.count == 8, "read two chunks, then stopped")
            native.value.remoteEOF = true
            native.value.remoteClosed = true
        }
        var total = 0
        for try await chunk in SSHByteStream(channel.value.core.stdout) { total += chunk.count }
        #expect(total == 5120)
        try await onLoop { #expect(channel.value.isFinished) }
    }

}

extension ByteStreamBuffer {
    /// Everything until the end.
    func collectAll() async throws -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = try await next() { all += chunk }
        return all
    }
}
