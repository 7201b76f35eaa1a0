import CLibSSH2
import SSHBackend
import SSHEngineCore
import SSHEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// libssh2's calls for one connection: its session in non-blocking mode on the socket the shared
/// ``ConnectionDriver`` connected, which owns everything else (loop thread only).
///
/// libssh2 reads and writes the socket inside every call, so there is no transport to pump; a stdout read may pull
/// a stderr packet into libssh2's memory and return EAGAIN while the socket stays quiet, which is why the driver
/// pumps every stream of every channel before waiting again.
final class LibSSH2Connection: NativeConnection {
    typealias Authenticator = LibSSH2Authenticator

    let context: ConnectionContext
    private(set) var session: OpaquePointer?
    /// The responder for a keyboard-interactive exchange in progress (read by the C callback).
    var keyboardInteractiveResponder: SSHKeyboardInteractiveResponder?
    /// What the server sent before keys were agreed (its identification and first packet, at most
    /// ``serverHelloLimit`` bytes), kept during the handshake so a failed negotiation can name the server's offer;
    /// libssh2 does not say what it was.
    private var serverHello: [UInt8] = []
    /// libssh2's own receive callback, put back once the handshake is over.
    private var libraryReceive: clibssh2_recv_callback?
    /// The algorithms this session offered (its preference lists, or everything libssh2 has).
    private var offered = LibSSH2Library.supportedAlgorithms

    static func prepareKey(_ contents: [UInt8], passphrase: String?) async {
        await LibSSH2KeyCache.shared.prepare(contents: contents, passphrase: passphrase)
    }

    init(context: ConnectionContext) {
        self.context = context
    }

    // MARK: Session

    /// Creates the libssh2 session (non-blocking), passing `self` as the callbacks' abstract pointer.
    /// What this libssh2 build negotiates, as it reports it (`libssh2_session_supported_algs`). Host keys: no
    /// rsa-sha2 (RSA only as SHA-1 `ssh-rsa`, which OpenSSH 8.8+ servers no longer offer), no `sk-*`, and host
    /// certificates left out (listed by libssh2 1.10 but never agreed).
    static var supportedAlgorithms: SSHAlgorithmSupport { LibSSH2Library.supportedAlgorithms }

    func makeSession(algorithms: SSHNegotiationLists) throws(SSHError) {
        if session != nil { return }
        _ = LibSSH2Library.initialized
        guard let created = clibssh2_session_init(Unmanaged.passUnretained(self).toOpaque()) else {
            throw error(.resourceExhausted, "libssh2 could not allocate a session")
        }
        var preferences: [(Int32, [String])] = [(LIBSSH2_METHOD_HOSTKEY, algorithms.hostKeys)]
        if let ciphers = algorithms.ciphers {
            preferences += [(LIBSSH2_METHOD_CRYPT_CS, ciphers), (LIBSSH2_METHOD_CRYPT_SC, ciphers)]
        }
        if let macs = algorithms.macs { preferences += [(LIBSSH2_METHOD_MAC_CS, macs), (LIBSSH2_METHOD_MAC_SC, macs)] }
        if let kex = algorithms.keyExchange { preferences.append((LIBSSH2_METHOD_KEX, kex)) }
        for (method, list) in preferences
        where libssh2_session_method_pref(created, method, list.joined(separator: ",")) != 0 {
            libssh2_session_free(created)
            throw error(.unsupported, "libssh2 accepts none of " + list.joined(separator: ","))
        }
        libssh2_session_set_blocking(created, 0)
        libraryReceive = clibssh2_set_recv(created, recordingReceive)
        let all = Self.supportedAlgorithms
        offered = SSHAlgorithmSupport(
            hostKeys: algorithms.hostKeys, ciphers: algorithms.ciphers ?? all.ciphers,
            keyExchange: algorithms.keyExchange ?? all.keyExchange,
            macs: algorithms.macs ?? all.macs)
        if options.compression { libssh2_session_flag(created, LIBSSH2_FLAG_COMPRESS, 1) }
        session = created
    }

    func handshake() -> NativeStep {
        guard let session else { return .failed(error(.sessionClosed, "the session is closed")) }
        let rc = libssh2_session_handshake(session, context.socket.fd)
        if rc == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        defer { endRecording() }
        if rc == LIBSSH2_ERROR_KEX_FAILURE {
            let target = "\(options.host):\(options.port)"
            let name = "libssh2 \(LibSSH2Library.version)"
            if let offer = ServerAlgorithmOffer(serverStream: serverHello),
                let mismatch = offer.mismatch(with: offered, clientName: name)
            {
                return .failed(
                    nativeError(
                        .handshakeFailed,
                        "the SSH handshake with \(target) failed: \(mismatch)"
                            + (offer.ciphers.contains(where: ServerAlgorithmOffer.isAEAD)
                                ? Self.missingCiphersHint : "")))
            }
            return .failed(
                nativeError(
                    .handshakeFailed,
                    "the SSH handshake with \(target) failed, most likely for "
                        + "want of a common algorithm (\(name) has ciphers " + offered.ciphers.joined(separator: ",")
                        + ")"
                        + Self.missingCiphersHint))
        }
        if rc != 0 {
            return .failed(
                nativeError(.handshakeFailed, "the SSH handshake with \(options.host):\(options.port) failed"))
        }
        return .done
    }

    /// Why a modern server may have nothing in common with this libssh2, and what to do.
    private static let missingCiphersHint =
        " (libssh2 1.10 has no chacha20-poly1305 or AES-GCM ciphers and no ETM "
        + "or UMAC MACs; for a server that offers only those, use the libssh engine)"

    /// Whether the server's identification (an `SSH-` line) arrived, as recorded during the handshake.
    private(set) var receivedServerBanner = false

    /// What was recorded during the handshake (its first line tells a non-SSH server apart).
    var serverPreamble: [UInt8] { Array(serverHello.prefix(512)) }

    /// Keeps the start of what the server sent, until a KEXINIT is complete or the limit is reached.
    fileprivate func record(_ buffer: UnsafeRawPointer, count: Int) {
        guard libraryReceive != nil, serverHello.count < Self.serverHelloLimit else { return }
        serverHello.append(
            contentsOf: UnsafeRawBufferPointer(
                start: buffer, count: min(count, Self.serverHelloLimit - serverHello.count)))
        if !receivedServerBanner {
            // Text before the identification is allowed (and is all that sshd past MaxStartups sends).
            receivedServerBanner =
                serverHello.starts(with: Array("SSH-".utf8))
                || serverHello.indices.dropLast(4).contains {
                    serverHello[$0] == 0x0A && serverHello[($0 + 1)...].starts(with: Array("SSH-".utf8))
                }
        }
    }

    /// Enough for an identification string and a KEXINIT with long lists.
    static let serverHelloLimit = 8192

    /// Puts libssh2's own receive callback back and drops what was recorded.
    private func endRecording() {
        if let session, let libraryReceive { _ = clibssh2_set_recv(session, libraryReceive) }
        libraryReceive = nil
        serverHello = []
    }

    func serverHostKey() -> SSHHostKey? {
        guard let session else { return nil }
        var length = 0
        var type: Int32 = 0
        guard let raw = libssh2_session_hostkey(session, &length, &type), length > 0 else { return nil }
        let blob = raw.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
        let algorithm = libssh2_session_methods(session, LIBSSH2_METHOD_HOSTKEY).map { String(cString: $0) } ?? ""
        return SSHHostKey(algorithm: algorithm, blob: blob)
    }

    /// libssh2 moves bytes inside every call.
    /// The channels open on this session (until freed), one of which ``pumpTransport()`` reads through.
    var liveChannels: Set<OpaquePointer> = []

    /// libssh2 reads its socket only inside its calls, and a channel read drains it for every channel; so a
    /// zero-byte read on any one channel moves what arrived into libssh2's packet queue, where each channel's
    /// ``LibSSH2Channel/hasBufferedInput(_:)`` finds its own, instead of every channel's read calling `recv`.
    func pumpTransport() -> TransportPump {
        guard let handle = liveChannels.first else { return .idle }
        var unused: CChar = 0
        let rc = libssh2_channel_read_ex(handle, 0, &unused, 0)
        if rc >= 0 || rc == Int(LIBSSH2_ERROR_EAGAIN) { return .idle }
        let failure = channelError(rc, "reading from the connection failed")
        return failure.code == .connectionLost ? .failed(failure) : .idle
    }

    /// libssh2 never closes the context.socket.
    func reconcileSocket() {}

    func sendKeepalive(interval seconds: Int) -> NativeStep {
        guard let session else { return .done }
        // want_reply: the server answers, so a silent peer can be told from a quiet one.
        libssh2_keepalive_config(session, 1, UInt32(clamping: seconds))
        var next: Int32 = 0
        let rc = libssh2_keepalive_send(session, &next)
        if rc != 0 && rc != LIBSSH2_ERROR_EAGAIN && isTransportError(rc) {
            return .failed(nativeError(.connectionLost, "keepalive failed"))
        }
        return .done
    }

    func channelOpener() -> LibSSH2ChannelOpener { LibSSH2ChannelOpener() }

    func teardown(graceful: Bool) {
        guard let session else { return }
        if graceful { _ = libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "closed", "") }
        // In non-blocking mode libssh2_session_free returns EAGAIN (and frees nothing) while a channel still waits
        // for the server's CLOSE. With the socket shut down those waits fail at once instead.
        context.socket.shutDown()
        var attempts = 0
        while libssh2_session_free(session) == LIBSSH2_ERROR_EAGAIN && attempts < 16 { attempts += 1 }
        self.session = nil
        liveChannels.removeAll()
    }

    // MARK: Errors

    /// An error built from libssh2's last error on this session.
    func nativeError(_ code: SSHError.Code, _ message: String) -> SSHError {
        guard let session else { return error(code, message) }
        var buffer = [CChar](repeating: 0, count: 512)
        let native = clibssh2_last_error(session, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return error(code, text.isEmpty ? message : "\(message): \(text)", native: native, nativeMessage: text)
    }

    /// The error for a failed channel-level call, distinguishing a dead transport from a refused request.
    func channelError(_ rc: Int, _ message: String) -> SSHError {
        channelError(lost: isTransportError(Int32(truncatingIfNeeded: rc)), message)
    }
}

/// The receive callback during the handshake: `recv` as libssh2's own (a negative errno on failure), recording
/// what arrives for the connection whose session this is.
private let recordingReceive: clibssh2_recv_callback = { socket, buffer, length, flags, abstract in
    let received = recv(socket, buffer, length, flags)
    if received < 0 {
        let code = errno
        return code == ENOENT ? -Int(EAGAIN) : -Int(code)
    }
    if received > 0, let buffer, let owner = abstract?.pointee {
        Unmanaged<LibSSH2Connection>.fromOpaque(owner).takeUnretainedValue().record(buffer, count: received)
    }
    return received
}
