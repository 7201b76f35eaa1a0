import Glibc
import SSHBackend
import SSHEventLoop
import Synchronization
import Testing

@testable import SSHEngineCore

/// The splice between a channel and a local socket (jump tunnels, forwarded agents) against a scripted channel and
/// a real socket pair: bytes both ways in order, backpressure both ways, EOF both ways, and its end.
@Suite("Socket splice", .timeLimit(.minutes(10)))
struct SocketSpliceTests {
    /// A count other threads may bump.
    final class Counter: Sendable {
        let count = Mutex(0)
    }

    /// A scripted channel, a splice on one end of a socket pair, and the other end (the inner connection's).
    final class Rig: @unchecked Sendable {
        let connection: ScriptedConnection
        let channel: ScriptedChannel
        let splice: SocketSplice
        /// The other end (-1 once the test closed it: never closed twice, as its number may be another's by then).
        private(set) var peer: Int32
        let cause = TunnelCause()
        /// How often `ended` ran, and each run as it happens.
        let endedRuns = Counter()
        let ended = AsyncStream<Void>.makeStream()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: EventLoop.scratchSize, alignment: 16)

        init() throws {
            connection = ScriptedConnection(
                context: ConnectionContext(options: DriverTests.options, socket: ConnectionSocket(loop: testLoop)))
            channel = ScriptedChannel(connection: connection)
            let pair = try socketPair(for: "a test", host: "scripted.example", port: 2222)
            peer = pair[0]
            let (runs, events) = (endedRuns, ended.1)
            splice = SocketSplice(fd: pair[1], cause: cause) {
                runs.count.withLock { $0 += 1 }
                events.yield()
            }
        }

        deinit {
            closePeer()
            splice.end(nil)  // closes the splice's end
            scratch.deallocate()
        }

        /// Closes the other end (the inner connection went away). Shut down first, so the splice sees it at once:
        /// a child another test is spawning holds a copy of every descriptor until it executes its program (close
        /// alone then read "nothing yet" instead of the end: EAGAIN in 4 of 5 runs beside FrontendTests).
        func closePeer() {
            if peer >= 0 {
                _ = shutdown(peer, Int32(SHUT_RDWR))
                close(peer)
            }
            peer = -1
        }

        func pump() throws -> Bool { try splice.pump(channel, scratch: scratch) }

        /// What the peer can read now.
        func readPeer() -> [UInt8] {
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(peer, &buffer, buffer.count)
                if count <= 0 { return all }
                all += buffer[..<count]
            }
        }

        func writePeer(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { write(peer, $0.baseAddress, $0.count) } }
    }

    @Test("bytes go both ways in order; a window that takes part of a read keeps the rest for the next pass")
    func bothWays() async throws {
        let outcome = try await onLoop { () throws -> ([UInt8], [UInt8], [UInt8], [UInt8]) in
            let rig = try Rig()
            rig.channel.pending[.stdout] = [[1, 2, 3], [4, 5]]
            let sent = (0..<100).map { UInt8($0) }
            _ = rig.writePeer(sent)
            rig.channel.windowLeft = 10
            _ = try rig.pump()
            let firstPass = rig.channel.written
            rig.channel.windowLeft = Int.max
            _ = try rig.pump()
            return (rig.readPeer(), firstPass, rig.channel.written, sent)
        }
        #expect(outcome.0 == [1, 2, 3, 4, 5])
        #expect(outcome.1.count == 10, "the window took 10 bytes; the rest waits")
        #expect(outcome.2 == outcome.3, "the rest followed once the window opened, in order")
    }

    @Test("a full socket stops the channel's reads (its window stays shut), and they resume as it drains")
    func backpressureToSocket() async throws {
        let chunk = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let chunks = 64  // 4 MiB: far more than a socket pair holds
        let outcome = try await onLoop { () throws -> (Int, Bool, Int, Bool) in
            let rig = try Rig()
            rig.channel.pending[.stdout] = Array(repeating: chunk, count: chunks)
            _ = try rig.pump()
            let left = rig.channel.pending[.stdout]?.count ?? 0
            let drained = rig.splice.isDrained
            var received: [UInt8] = []
            while received.count < chunk.count * chunks {
                received += rig.readPeer()
                rig.splice.handleIO([.writable])  // the loop's edge: the socket has room again
                _ = try rig.pump()
            }
            let inOrder = received == Array((0..<chunks).map { _ in chunk }.joined())
            return (left, drained, received.count, inOrder && rig.splice.isDrained)
        }
        #expect(outcome.0 > 0, "chunks stayed in the library while the socket was full")
        #expect(!outcome.1, "a read the socket did not take is held, not dropped")
        #expect(outcome.2 == chunk.count * chunks)
        #expect(outcome.3, "every byte arrived, in order")
    }

    @Test("the peer's end becomes the channel's EOF, after the bytes before it")
    func eofToChannel() async throws {
        let calls = try await onLoop { () throws -> [String] in
            let rig = try Rig()
            _ = rig.writePeer([9, 9, 9])
            _ = shutdown(rig.peer, Int32(SHUT_WR))
            _ = try rig.pump()
            return rig.channel.calls
        }
        #expect(calls == ["write 3", "eof"])
    }

    @Test("a peer that closed while the channel still sends is reported gone, so the channel closes")
    func peerGone() async throws {
        let gone = try await onLoop { () throws -> Bool in
            let rig = try Rig()
            rig.closePeer()
            rig.channel.pending[.stdout] = [[1, 2, 3]]
            _ = try rig.pump()
            return rig.splice.peerGone
        }
        #expect(gone)
    }

    @Test("a peer that closes while the socket is full is found gone at the hang-up, not waited on for ever")
    func hangUpWhileFull() async throws {
        let outcome = try await onLoop { () throws -> (Bool, Bool) in
            let rig = try Rig()
            rig.channel.pending[.stdout] = Array(repeating: [UInt8](repeating: 7, count: 65536), count: 16)
            _ = try rig.pump()  // fills the socket; the splice now waits for it to be writable
            let waiting = !rig.splice.isDrained && !rig.splice.peerGone
            rig.closePeer()
            rig.splice.handleIO([.hangup])  // what the loop reports when the peer closes
            _ = try rig.pump()
            return (waiting, rig.splice.peerGone)
        }
        #expect(outcome.0, "the socket was full: the splice waited with data in hand")
        #expect(outcome.1, "the hang-up let the splice find the peer gone")
    }

    @Test("its end records the connection's loss as the cause, closes the socket (the peer sees its end), runs once")
    func end() async throws {
        let rig = try await onLoop { try Rig() }
        let lost = SSHError(.connectionLost, host: "hop.example", port: 22, message: "the connection was lost")
        let (peerRead, readError) = try await onLoop { () -> (Int, String) in
            rig.splice.end(lost)
            rig.splice.end(nil)
            var byte: UInt8 = 0
            let count = read(rig.peer, &byte, 1)
            return (count, count < 0 ? String(cString: strerror(errno)) : "")
        }
        #expect(peerRead == 0, "the peer reads the end of the stream (\(readError))")
        #expect(rig.cause.error?.code == .connectionLost)
        var runs = rig.ended.0.makeAsyncIterator()
        await runs.next()
        #expect(rig.endedRuns.count.withLock { $0 } == 1)
    }
}
