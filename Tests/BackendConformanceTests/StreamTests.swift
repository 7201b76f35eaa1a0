import Foundation
import SSHBackend
import SSHTestSupport
import Testing

/// The tests that move hundreds of megabytes, one at a time: memory bounds are measured on the whole process, so
/// two of them at once would share (and blur) the figure.
@Suite("Bulk data", .serialized)
struct BulkDataTests {}

extension BulkDataTests {
    @Suite("Streaming and backpressure", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)))
    struct StreamTests {
        @Test("100 MB of output with its checksum verified, memory bounded", arguments: Engine.all)
        func hundredMegabytes(engine: Engine) async throws {
            try await Exclusive.run { try await hundredMegabytesAlone(engine: engine) }
        }

        private func hundredMegabytesAlone(engine: Engine) async throws {
            let session = try await engine.connect()
            let size = 100_000_000
            // The remote computes POSIX cksum of the very bytes it sends (on stderr); we compute it on what arrives.
            let channel = try await session.exec(
                "{ head -c \(size) /dev/urandom | tee /dev/fd/3 | cksum >&2; } 3>&1")
            let baseline = ResidentMemory.current
            var peak = baseline
            var checksum = POSIXChecksum()
            var chunks = 0
            for try await chunk in channel.stdout {
                checksum.update(chunk)
                chunks += 1
                if chunks % 256 == 0 { peak = max(peak, ResidentMemory.current) }
            }
            // stderr is read only now: it held the checksum line meanwhile.
            let expected = String(decoding: try await channel.stderr.collect(), as: UTF8.self)
            #expect(checksum.length == size)
            #expect(expected == "\(checksum.finalize()) \(size)\n")
            #expect(try await channel.exitStatus().code == 0)
            // Far under the 100 MB that holding the output would take. The figure is the whole process's, and the
            // tests running beside this one have moved it by up to 57 MB: the bound leaves room for them (the
            // engine's own bound is measured exactly on the remote writer in the backpressure test below).
            #expect(peak - baseline < 80 << 20, "resident memory grew by \((peak - baseline) >> 20) MiB")
            await session.close()
        }

        @Test("output nobody reads stops being read: memory stays bounded", arguments: Engine.all)
        func backpressure(engine: Engine) async throws {
            try await Exclusive.run { try await backpressureAlone(engine: engine) }
        }

        private func backpressureAlone(engine: Engine) async throws {
            let session = try await engine.connect()
            let channel = try await session.exec("echo $$ >&2; exec 2>/dev/null; exec head -c 300000000 /dev/zero")
            // The writer's pid (the server runs on this machine), then wait until it is blocked writing: the flow stopped.
            let line = try #require(try await channel.stderr.nextChunk())
            let pid = try #require(RemoteWriter.pid(from: line))
            // What is held is at most what the writer managed to write before it blocked: the stream's capacity, the
            // engine's window and the kernel's buffers. Measured on the writer, not on this process's memory, which the
            // tests running beside this one move by tens of MB.
            let written = try await RemoteWriter.bytesWrittenWhenBlocked(pid: pid)
            #expect(written < 32 << 20, "the writer wrote \(written) bytes of 300 MB before it blocked")
            // Reading resumes the flow, and everything arrives.
            var total = 0
            for try await chunk in channel.stdout { total += chunk.count }
            #expect(total == 300_000_000)
            #expect(try await channel.exitStatus().code == 0)
            await session.close()
        }

        @Test("each line arrives as it is written, before the command writes the next", arguments: Engine.all)
        func streamsIncrementally(engine: Engine) async throws {
            let session = try await engine.connect()
            // Lock-step: the command writes the next line only after we answered the previous one, so output held back
            // until the end would never come (the suite's time limit would end the test).
            let channel = try await session.exec("for i in 1 2 3 4; do echo $i; read ack; done")
            var text = ""
            var acknowledged = 0
            for try await chunk in channel.stdout {
                text += String(decoding: chunk, as: UTF8.self)
                let answered = text.filter { $0 == "\n" }.count
                for _ in 0..<answered - acknowledged { try await channel.write(Array("\n".utf8)) }
                acknowledged = answered
            }
            #expect(text == "1\n2\n3\n4\n")
            #expect(try await channel.exitStatus().code == 0)
            await session.close()
        }
    }

    /// POSIX `cksum` (CRC-32/CKSUM), to check bytes against the remote's own sum.
    struct POSIXChecksum {
        private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
            var crc = UInt32(index) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? (crc << 1) ^ 0x04C1_1DB7 : crc << 1 }
            return crc
        }

        private var crc: UInt32 = 0
        private(set) var length = 0

        mutating func update(_ bytes: [UInt8]) {
            var crc = self.crc
            Self.table.withUnsafeBufferPointer { table in
                bytes.withUnsafeBufferPointer { data in
                    for byte in data { crc = (crc << 8) ^ table[Int((crc >> 24) ^ UInt32(byte))] }
                }
            }
            self.crc = crc
            length += bytes.count
        }

        func finalize() -> UInt32 {
            var crc = self.crc
            var remaining = length
            while remaining > 0 {
                crc = (crc << 8) ^ Self.table[Int((crc >> 24) ^ UInt32(remaining & 0xFF))]
                remaining >>= 8
            }
            return ~crc
        }
    }

}
