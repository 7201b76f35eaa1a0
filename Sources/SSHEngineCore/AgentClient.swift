import SSHBackend
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// One public key an agent holds.
package struct AgentIdentity: Sendable {
    /// The key blob (SSH wire format).
    package let blob: [UInt8]
    /// The agent's comment for it.
    package let comment: String
}

/// An agent connection made before the SSH connection started, off the loops, with the keys it listed: the
/// engines sign through it (one request and answer on a local socket per signature), and never connect or list
/// on a loop thread. Closed when the last holder lets go.
package final class AgentSession: Sendable {
    /// The connected agent socket (blocking, with 10 s send and receive timeouts).
    package let fd: Int32
    /// Where it is.
    package let path: String
    /// The keys it holds, in its order.
    package let identities: [AgentIdentity]

    init(fd: Int32, path: String, identities: [AgentIdentity]) {
        self.fd = fd
        self.path = path
        self.identities = identities
    }

    deinit { close(fd) }

    /// Asks the agent to sign `data` with the key `blob` (`flags`: the RSA SHA-2 bits of the agent protocol);
    /// the signature itself (the blob's algorithm name left out, as the C libraries' signing callbacks want it), or
    /// `nil` when the agent refused or the socket failed.
    /// A blocking round trip on a local socket; bounded by the socket's timeouts.
    package func sign(_ data: UnsafeRawBufferPointer, with blob: [UInt8], flags: UInt32 = 0) -> [UInt8]? {
        var request: [UInt8] = [13]  // SSH2_AGENTC_SIGN_REQUEST
        AgentWire.appendString(blob, to: &request)
        AgentWire.appendString(Array(data), to: &request)
        AgentWire.appendUInt32(flags, to: &request)
        let answer = LoopWatchdog.knownBlockingCall("agent signature") { AgentWire.exchange(fd, request) }
        guard let answer, answer.first == 14 else { return nil }  // SIGN_RESPONSE
        // SIGN_RESPONSE: string(signature blob), whose contents are string(algorithm) string(signature).
        var response = AgentWire.Reader(answer.dropFirst())
        guard let signatureBlob = response.string() else { return nil }
        var blobReader = AgentWire.Reader(signatureBlob[...])
        guard blobReader.string() != nil else { return nil }
        return blobReader.string()
    }
}

/// Connects to an agent and lists its keys: blocking calls, for a thread that may block (never a loop).
package enum AgentClient {
    /// What preparing the agent came to.
    package enum Preparation: Sendable {
        /// Connected, with at least one key.
        case ready(AgentSession)
        /// Not tried (no socket named) or unusable: the reason, for the attempt list.
        case unusable(String)
    }

    /// Connects to the agent at `socketPath` (else `SSH_AUTH_SOCK`) and lists its keys.
    package static func prepare(socketPath: String?) -> Preparation {
        LoopWatchdog.blockingCall("connecting to the agent")
        let path = socketPath ?? getenv("SSH_AUTH_SOCK").map { String(cString: $0) }
        guard let path, !path.isEmpty else { return .unusable("skipped: SSH_AUTH_SOCK is not set") }
        guard let fd = connect(path) else { return .unusable("cannot connect to the agent at \(path)") }
        // REQUEST_IDENTITIES, IDENTITIES_ANSWER
        guard let answer = AgentWire.exchange(fd, [11]), answer.first == 12 else {
            close(fd)
            return .unusable("the agent did not list its keys")
        }
        var reader = AgentWire.Reader(answer.dropFirst())
        var identities: [AgentIdentity] = []
        if let count = reader.uint32() {
            for _ in 0..<min(count, 1024) {
                guard let blob = reader.string(), let comment = reader.string() else { break }
                identities.append(AgentIdentity(blob: blob, comment: String(decoding: comment, as: UTF8.self)))
            }
        }
        guard !identities.isEmpty else {
            close(fd)
            return .unusable("the agent holds no keys")
        }
        return .ready(AgentSession(fd: fd, path: path, identities: identities))
    }

    /// A stream connection to the agent at `path`: blocking with 10-second timeouts (for the client's own talk, off
    /// the loops), or non-blocking (for a forwarded agent's bytes, which the loop carries; a local socket's connect
    /// completes at once or fails).
    package static func connect(_ path: String, nonBlocking: Bool = false) -> Int32? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | flags, 0)
        guard fd >= 0 else { return nil }
        if !nonBlocking {
            var limit = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}

/// The agent protocol's framing: a 32-bit length, then the message; strings are length-prefixed.
enum AgentWire {
    static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func appendString(_ value: [UInt8], to bytes: inout [UInt8]) {
        appendUInt32(UInt32(value.count), to: &bytes)
        bytes += value
    }

    /// Sends `message` and reads the answer (at most 256 KiB), or `nil` when the socket failed.
    static func exchange(_ fd: Int32, _ message: [UInt8]) -> [UInt8]? {
        var framed: [UInt8] = []
        appendString(message, to: &framed)
        guard writeAll(fd, framed), let header = readExactly(fd, 4) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length > 0, length <= 256 << 10 else { return nil }
        return readExactly(fd, length)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    private static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes[offset...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            offset += got
        }
        return bytes
    }

    /// Reads big-endian integers and strings from an answer.
    struct Reader {
        private var bytes: ArraySlice<UInt8>
        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

        mutating func uint32() -> UInt32? {
            guard bytes.count >= 4 else { return nil }
            let value = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            bytes = bytes.dropFirst(4)
            return value
        }

        mutating func string() -> [UInt8]? {
            guard let length = uint32(), bytes.count >= Int(length) else { return nil }
            defer { bytes = bytes.dropFirst(Int(length)) }
            return Array(bytes.prefix(Int(length)))
        }
    }
}
