import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

/// What the server did when a connection failed before its key exchange ended, told from what arrived on the
/// socket rather than from the engine's own words, so both engines give one code and one true message per
/// situation (docs/reliability.md, "Handshake failures"):
///
/// | What the server did | Code |
/// |---|---|
/// | closed or reset the connection before sending a byte | `closedBeforeBanner` |
/// | sent sshd's "Exceeded MaxStartups" and closed | `closedBeforeBanner` |
/// | sent other text (an HTTP server on the SSH port), then closed or went silent | `handshakeFailed` |
/// | sent an SSH-1 identification | `handshakeFailed` |
/// | sent its SSH-2 identification, then closed | `handshakeFailed` |
/// | sent its SSH-2 identification, then went silent | `timeout` |
///
/// Only `closedBeforeBanner` is what the parallel client paces and retries as a storm refusal.
package struct HandshakeFailure {
    /// The first bytes the server sent, as peeked before the engine read them (at most ``limit``).
    package private(set) var preamble: [UInt8] = []
    /// The most bytes kept.
    package static let limit = 512
    /// Whether the peer was seen to close or reset the connection during the handshake.
    package var peerHungUp = false

    package init() {}

    /// Looks at what waits on `fd` without taking it (one `recv` with `MSG_PEEK`): the first bytes, while nothing
    /// has been seen yet, and whether the peer has closed or reset the connection.
    package mutating func peek(_ fd: Int32) {
        guard fd >= 0, !peerHungUp else { return }
        var buffer = [UInt8](repeating: 0, count: preamble.isEmpty ? Self.limit : 1)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        if count > 0 && preamble.isEmpty { preamble = Array(buffer[..<count]) }
        if count == 0 || (count < 0 && (errno == ECONNRESET || errno == EPIPE)) { peerHungUp = true }
    }

    /// This record, or `bytes` (what the engine itself read first) when nothing was seen before it read them or
    /// they say more (libssh2's record goes on past the identification).
    package func filled(from bytes: [UInt8]) -> HandshakeFailure {
        guard bytes.count > preamble.count, bytes.starts(with: preamble.prefix(bytes.count)) || preamble.isEmpty
        else { return self }
        var copy = self
        copy.preamble = Array(bytes.prefix(Self.limit))
        return copy
    }

    /// Whether anything followed the first line (a KEXINIT: the key exchange had begun).
    var sentAfterIdentification: Bool {
        guard let newline = preamble.firstIndex(of: UInt8(ascii: "\n")) else { return false }
        return newline + 1 < preamble.count
    }

    /// The first line the server sent, without its line end, printable and at most 100 characters.
    var firstLine: String? {
        guard !preamble.isEmpty else { return nil }
        var line = preamble.prefix { $0 != UInt8(ascii: "\n") }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let text = TerminalText.sanitized(String(decoding: line, as: UTF8.self), keepingLineBreaks: false)
        return text.count > 100 ? String(text.prefix(100)) + "…" : text
    }

    /// The error to report instead of `failure` (the engine's), or `nil` to keep it.
    /// - Parameters:
    ///   - receivedBanner: whether the engine saw the server's `SSH-` identification.
    ///   - closed: whether the peer closed or reset the connection.
    ///   - proxied: whether a ProxyCommand carries the connection (its own early end is its own failure).
    func classify(_ failure: SSHError, receivedBanner: Bool, closed: Bool, proxied: Bool) -> SSHError? {
        let target = "\(failure.host ?? "the server"):\(failure.port.map(String.init) ?? "")"
        func error(_ code: SSHError.Code, _ message: String) -> SSHError {
            SSHError(
                code, host: failure.host, port: failure.port, message: message, nativeCode: failure.nativeCode,
                nativeMessage: failure.nativeMessage)
        }
        let line = firstLine
        if let line, line.hasPrefix("SSH-") {
            if !line.hasPrefix("SSH-2.0-") && !line.hasPrefix("SSH-1.99-") {
                let version = line.dropFirst(4).prefix { $0 != "-" }
                return error(
                    .handshakeFailed, "\(target) speaks SSH protocol \(version) ('\(line)'); only SSH 2 is supported")
            }
            if failure.code == .timeout {
                return error(
                    .timeout,
                    "\(target) sent its identification '\(line)' but the key exchange did not "
                        + "follow: \(failure.message)")
            }
            // Closed right after its identification (nothing of a key exchange seen): not a failed negotiation,
            // which the engine explains itself (no common algorithm, the server's KEXINIT recorded).
            let negotiationFailed = failure.message.contains("no common") || failure.message.contains("no match")
            if closed && !negotiationFailed && (failure.code == .connectionLost || !sentAfterIdentification) {
                return error(
                    .handshakeFailed,
                    "\(target) sent its identification '\(line)', then closed the connection "
                        + "before the key exchange ended")
            }
            return nil
        }
        if let line, !receivedBanner {
            if line.hasPrefix("Exceeded MaxStartups") || line.isEmpty && closed {
                return error(
                    .closedBeforeBanner,
                    "\(target) turned the connection away before its SSH identification "
                        + "('\(line)': sshd does so past MaxStartups unauthenticated connections)")
            }
            let after =
                failure.code == .timeout
                ? ", and nothing more: \(failure.message)"
                : closed ? ", then closed the connection" : ""
            return error(
                .handshakeFailed,
                "\(target) sent '\(line)' instead of an SSH identification (is it an SSH "
                    + "server?)\(after)")
        }
        if !receivedBanner, failure.code == .timeout, !failure.message.contains("identification") {
            // Silence, or text the library took in the very call that sent our identification (libssh reads
            // there, so the driver cannot look first): either way, no identification came.
            return error(.timeout, "\(target) sent no SSH identification: \(failure.message)")
        }
        guard !receivedBanner, !proxied, failure.code == .connectionLost || failure.code == .handshakeFailed else {
            return nil
        }
        // Nothing came from the server, not even its identification: it turned the connection away.
        return error(
            .closedBeforeBanner,
            "\(target) closed the connection before sending anything, not even its SSH "
                + "identification (sshd does so past MaxStartups unauthenticated connections, as does a connection "
                + "limit in front of a server): \(failure.message)")
    }
}
