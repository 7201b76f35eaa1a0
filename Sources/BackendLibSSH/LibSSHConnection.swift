import CLibSSH
import Foundation
import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// libssh's calls for one connection: its session in non-blocking mode on the socket the shared
/// ``ConnectionDriver`` connected, which owns everything else (loop thread only).
///
/// libssh differs from libssh2 in three ways that shape this type:
/// - libssh reads its socket 4 KiB at a time, and only through its own `poll()`. ``pumpTransport()`` runs
///   `ssh_event_dopoll(event, 0)` on a per-session `ssh_event` (one fd, so O(1)) until libssh's poll finds nothing,
///   so edge-triggered epoll never leaves bytes behind. The `ssh_event` is never our loop.
/// - libssh closes the socket itself on some errors, and switches it to blocking mode after connecting. The socket
///   is put back in non-blocking mode after each handshake step; after every drive ``reconcileSocket()`` checks
///   whether libssh closed it, and then only forgets the number (which may already belong to a new socket) instead
///   of closing it a second time. Teardown makes libssh let go of the socket (`ssh_disconnect` with a
///   caller-supplied socket never closes it) before the driver closes it.
/// - Exit status and exit signal only arrive through channel callbacks (see ``LibSSHChannel``).
final class LibSSHConnection: NativeConnection {
    typealias Authenticator = LibSSHAuthenticator

    let context: ConnectionContext
    private(set) var session: OpaquePointer?
    private var event: OpaquePointer?
    /// Whether libssh holds the socket (from the first `ssh_connect` call on).
    private var socketHandedOverToLibSSH = false
    /// The session's callbacks, set when the agent is forwarded (libssh keeps the pointer: freed after the session).
    private var sessionCallbacks: UnsafeMutablePointer<ssh_callbacks_struct>?
    /// Channels the server opened for the forwarded agent, accepted by libssh, not yet handed to the driver.
    private var agentChannels: [LibSSHChannel] = []

    /// How many 4 KiB transport reads one wake-up may do before other connections on the loop get a turn.
    private static let pumpBudget = 256

    static func prepareKey(_ contents: [UInt8], passphrase: String?) async {
        await LibSSHKeyCache.shared.prepare(contents: contents, passphrase: passphrase)
    }

    init(context: ConnectionContext) {
        self.context = context
    }

    // MARK: Session

    /// Creates the libssh session (non-blocking) on the connected socket. It never resolves names,
    /// connects, or reads `~/.ssh/config` or known_hosts files of its own accord.
    /// What libssh 0.10.6 (OpenSSL build) negotiates, from its `kex.c` (it has no call that lists them); host
    /// certificates are left out of its offer.
    static let supportedAlgorithms = SSHAlgorithmSupport(
        hostKeys: [
            "ssh-ed25519", "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256",
            "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
            "ssh-rsa",
        ],
        ciphers: [
            "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "aes256-ctr",
            "aes192-ctr", "aes128-ctr", "aes256-cbc", "aes192-cbc", "aes128-cbc", "3des-cbc",
        ],
        keyExchange: [
            "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
            "ecdh-sha2-nistp521", "diffie-hellman-group18-sha512", "diffie-hellman-group16-sha512",
            "diffie-hellman-group-exchange-sha256", "diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1",
            "diffie-hellman-group1-sha1", "diffie-hellman-group-exchange-sha1",
        ],
        macs: [
            "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com",
            "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
        ])

    func makeSession(algorithms: SSHNegotiationLists) throws(SSHError) {
        if session != nil { return }
        _ = LibSSHLibrary.initialized
        guard let created = ssh_new() else {
            throw error(.resourceExhausted, "libssh could not allocate a session")
        }
        var preferences: [(ssh_options_e, [String])] = [(SSH_OPTIONS_HOSTKEYS, algorithms.hostKeys)]
        if let ciphers = algorithms.ciphers {
            preferences += [(SSH_OPTIONS_CIPHERS_C_S, ciphers), (SSH_OPTIONS_CIPHERS_S_C, ciphers)]
        }
        if let macs = algorithms.macs { preferences += [(SSH_OPTIONS_HMAC_C_S, macs), (SSH_OPTIONS_HMAC_S_C, macs)] }
        if let kex = algorithms.keyExchange { preferences.append((SSH_OPTIONS_KEY_EXCHANGE, kex)) }
        for (option, list) in preferences where !setOption(created, option, list.joined(separator: ",")) {
            ssh_free(created)
            throw error(.unsupported, "libssh accepts none of " + list.joined(separator: ","))
        }
        ssh_set_blocking(created, 0)
        setOption(created, SSH_OPTIONS_FD, context.socket.fd)
        if !options.host.contains("@") { setOption(created, SSH_OPTIONS_HOST, options.host) }
        setOption(created, SSH_OPTIONS_PORT, UInt32(clamping: options.port))
        setOption(created, SSH_OPTIONS_USER, options.user)
        setOption(created, SSH_OPTIONS_PROCESS_CONFIG, false)
        if let directory = LibSSHLibrary.sshDirectory { setOption(created, SSH_OPTIONS_SSH_DIR, directory) }
        // Host keys are verified by this package (SSHKnownHosts), not by libssh reading the user's files behind the
        // caller's back; with /dev/null, libssh offers the host-key algorithms in exactly the order given.
        setOption(created, SSH_OPTIONS_KNOWNHOSTS, "/dev/null")
        setOption(created, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null")
        setOption(created, SSH_OPTIONS_COMPRESSION, options.compression ? "yes" : "no")
        session = created
        if options.forwardAgent != nil { acceptAgentChannels(created) }
    }

    /// Lets libssh accept the `auth-agent@openssh.com` channels the server opens (else it refuses them): each is
    /// made here, with its callbacks, and handed to the driver (``takeAgentChannels()``), which carries it to the
    /// local agent.
    private func acceptAgentChannels(_ session: OpaquePointer) {
        let callbacks = UnsafeMutablePointer<ssh_callbacks_struct>.allocate(capacity: 1)
        callbacks.initialize(to: ssh_callbacks_struct())
        clibssh_session_callbacks_init(callbacks)
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_open_request_auth_agent_function = { session, userdata in
            guard let session, let userdata, let handle = ssh_channel_new(session) else { return nil }
            let connection = Unmanaged<LibSSHConnection>.fromOpaque(userdata).takeUnretainedValue()
            let channel = LibSSHChannel(handle: handle, connection: connection)
            channel.confirmed = true  // libssh confirms it as this returns
            connection.agentChannels.append(channel)
            return handle
        }
        sessionCallbacks = callbacks
        ssh_set_callbacks(session, callbacks)
    }

    func takeAgentChannels() -> [LibSSHChannel] {
        defer { agentChannels.removeAll() }
        return agentChannels
    }

    /// After each `ssh_connect` call: libssh holds the socket (and switched it to blocking mode, which is undone
    /// here), and its socket moves into a private `ssh_event`, used only to pump the transport.
    private func socketHandedOver() {
        socketHandedOverToLibSSH = true
        context.socket.ensureNonBlocking()
        guard event == nil, let session, let created = ssh_event_new() else { return }
        if ssh_event_add_session(created, session) == SSH_OK {
            event = created
        } else {
            ssh_event_free(created)
        }
    }

    func serverHostKey() -> SSHHostKey? {
        guard let session else { return nil }
        var key: ssh_key?
        guard ssh_get_server_publickey(session, &key) == SSH_OK, let key else { return nil }
        defer { ssh_key_free(key) }
        var exported: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_pubkey_base64(key, &exported) == SSH_OK, let exported else { return nil }
        defer { ssh_string_free_char(exported) }
        guard let data = Data(base64Encoded: String(cString: exported)) else { return nil }
        let blob = Array(data)
        // libssh names an RSA key `ssh-rsa` whatever signature was negotiated: the blob's own type is used.
        return SSHHostKey(algorithm: String(cString: ssh_key_type_to_char(ssh_key_type(key))), blob: blob)
    }

    func handshake() -> NativeStep {
        guard let session else { return .failed(error(.sessionClosed, "the session is closed")) }
        let rc = ssh_connect(session)
        socketHandedOver()
        if rc == sshAgain { return .wouldBlock }
        if rc != SSH_OK {
            return .failed(
                nativeError(.handshakeFailed, "the SSH handshake with \(options.host):\(options.port) failed"))
        }
        return .done
    }

    /// libssh keeps the first line the server sent as its identification (`ssh_get_serverbanner`), `SSH-` or not.
    var receivedServerBanner: Bool { serverPreamble.starts(with: Array("SSH-".utf8)) }

    /// The first line libssh read from the server (it keeps it whatever it says), with its line end.
    var serverPreamble: [UInt8] {
        guard let session, let banner = ssh_get_serverbanner(session) else { return [] }
        return Array(String(cString: banner).utf8) + [10]
    }

    /// Lets libssh read what arrived and flush what it queued, until its own poll finds nothing more or the
    /// budget for this wake-up is spent.
    func pumpTransport() -> TransportPump {
        guard let event else { return .idle }
        var progress = TransportPump.idle
        for _ in 0..<Self.pumpBudget {
            let rc = ssh_event_dopoll(event, 0)
            if rc == sshAgain { return progress }
            if rc == SSH_ERROR {
                let lost = nativeError(.connectionLost, "the connection to \(options.host):\(options.port) was lost")
                // libssh negotiates inside its event callbacks: a key exchange with nothing in common ends here,
                // and its message already names what each side offered.
                if lost.nativeMessage?.contains("no match for method") == true {
                    return .failed(
                        nativeError(
                            .handshakeFailed,
                            "the SSH handshake with \(options.host):\(options.port) failed"))
                }
                return .failed(lost)
            }
            progress = .progressed
        }
        return .budgetSpent
    }

    /// If libssh closed the socket after an error, stop watching it without closing the number again.
    func reconcileSocket() {
        guard socketHandedOverToLibSSH, context.socket.fd >= 0, let session, ssh_get_fd(session) < 0 else { return }
        context.socket.forget()
    }

    func sendKeepalive(interval _: Int) -> NativeStep {
        guard let session else { return .done }
        if ssh_send_keepalive(session) == SSH_ERROR {
            return .failed(nativeError(.connectionLost, "keepalive failed"))
        }
        return .done
    }

    func authenticationBanner() -> String? {
        guard let session, let banner = ssh_get_issue_banner(session) else { return nil }
        defer { ssh_string_free_char(banner) }
        return String(cString: banner)
    }

    func channelOpener() -> LibSSHChannelOpener { LibSSHChannelOpener() }

    /// Frees the native session. libssh always gets the chance to say goodbye: with a caller-supplied socket,
    /// `ssh_disconnect` is also what makes it let go of the context.socket.
    func teardown(graceful _: Bool) {
        reconcileSocket()
        guard let session else { return }
        if let event {
            ssh_event_remove_session(event, session)
            ssh_event_free(event)
            self.event = nil
        }
        if ssh_get_fd(session) >= 0 {
            // With a caller-supplied socket, ssh_disconnect sends DISCONNECT (if it still can) and lets go of the
            // socket without closing it; ssh_free would otherwise close it under us.
            ssh_disconnect(session)
        }
        ssh_free(session)
        self.session = nil
        if let sessionCallbacks {
            sessionCallbacks.deinitialize(count: 1)
            sessionCallbacks.deallocate()
            self.sessionCallbacks = nil
        }
    }

    // MARK: Errors

    /// An error built from libssh's last error on this session.
    func nativeError(_ code: SSHError.Code, _ message: String) -> SSHError {
        guard let session else { return error(code, message) }
        let text = ssh_get_error(UnsafeMutableRawPointer(session)).map { String(cString: $0) } ?? ""
        let native = ssh_get_error_code(UnsafeMutableRawPointer(session))
        return error(code, text.isEmpty ? message : "\(message): \(text)", native: native, nativeMessage: text)
    }

    /// Whether the transport itself is gone (as opposed to one channel or request failing).
    var transportLost: Bool {
        guard let session else { return true }
        return ssh_is_connected(session) == 0 || ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR) != 0
    }

    /// The error for a failed channel-level call, distinguishing a dead transport from a refused request.
    func channelError(_ message: String) -> SSHError {
        channelError(lost: transportLost, message)
    }
}
