import SSHBackend
import SSHEventLoop
import SSHKnownHosts
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What an engine's public backend type holds besides its name: the output buffer size and the event loops, and
/// the `connect` that every engine shares (validate, resolve off-loop, then create the connection driver on a loop
/// and let it connect, with task cancellation failing it wherever it is).
package struct EngineRuntime: Sendable {
    /// Bytes each output stream (stdout, stderr) of a channel may buffer before reading pauses.
    package let outputBufferSize: Int
    private let group: EventLoopGroup

    /// Settles the buffer size (at least 1 KiB) on `group`'s loops (the process-wide ones by default; a test
    /// passes loops on a ``ManualClock``).
    package init(outputBufferSize: Int, group: EventLoopGroup = .shared) {
        self.outputBufferSize = max(1024, outputBufferSize)
        self.group = group
    }

    /// Connects with the engine whose native connection is `native`, and returns the authenticated session.
    package func connect<Native: NativeConnection>(_ native: Native.Type, _ options: SSHConnectionOptions)
        async throws -> any SSHSession
    {
        try options.validate()
        let loop = group.next()
        var addresses: [SocketAddress] = []
        if options.proxyCommand == nil && options.jumpHosts.isEmpty {
            do {
                addresses = try await AddressResolver.resolve(
                    host: options.host, port: options.port, family: options.addressFamily,
                    timeout: options.connectTimeout, loop: loop)
            } catch let error as SSHError {
                throw error.on(host: options.host, port: options.port)
            }
        }
        let hostKeyCheck = await HostKeyCheck.prepare(options.hostKeyPolicy, host: options.host, port: options.port)
        // Key and certificate files read, keys parsed and decrypted, the agent connected and listed: all before
        // the loop, which then only makes the native calls.
        let attempts = await AuthAttempt.prepare(options.authMethods) { contents, passphrase in
            await Native.prepareKey(contents, passphrase: passphrase)
        }
        var transport: (any PreconnectedTransport)?
        if let hop = options.jumpHosts.last {
            transport = try await tunnel(
                Native.self, to: options, through: hop, before: Array(options.jumpHosts.dropLast()))
        } else if let command = options.proxyCommand {
            let (host, port) = (options.host, options.port)
            transport = try await BlockingPool.processes.run { () throws(SSHError) in
                try ProxyCommandProcess.spawn(command, host: host, port: port)
            }
        }
        let (started, resolved) = (transport, addresses)
        let capacity = outputBufferSize
        let slot = Mutex<(bound: LoopBound<ConnectionDriver<Native>>?, cancelled: Bool)>((nil, false))
        let state = PublishedSessionState()
        defer { started?.handshakeEnded() }
        let banner = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String?, any Error>) in
                loop.execute {
                    LoopWatchdog.describe("starting the connection to \(options.host):\(options.port)")
                    let connection = ConnectionDriver<Native>(
                        loop: loop, options: options, streamCapacity: capacity,
                        published: state)
                    let bound = LoopBound(connection, loop: loop)
                    let cancelled = slot.withLock { slot in
                        slot.bound = bound
                        return slot.cancelled
                    }
                    if cancelled {
                        started?.discard(on: loop)
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    connection.enqueue(
                        ConnectOperation(
                            addresses: resolved, transport: started, options: options,
                            attempts: attempts, hostKeyCheck: hostKeyCheck,
                            continuation: continuation))
                }
            }
        } onCancel: {
            let bound = slot.withLock { slot in
                slot.cancelled = true
                return slot.bound
            }
            bound?.execute { $0.fail(CancellationError()) }
        }
        guard let bound = slot.withLock({ $0.bound }) else {
            throw SSHError(.sessionClosed, host: options.host, port: options.port, message: "connection vanished")
        }
        return EngineSession(options: options, connection: bound, banner: banner, state: state)
    }

    /// Leases a connection to `hop` (through the hops `before` it) from the ``JumpPool``, opens a `direct-tcpip`
    /// channel to `target` on it, and splices that channel to one end of a socket pair inside the hop's loop
    /// (``SocketSplice``); returns the other end for the target's connection. Targets behind the same hop share its connection. A hop's failure is the
    /// target's error naming the hop; the hop's refusal to reach the target is the target's own error.
    private func tunnel<Native: NativeConnection>(
        _ native: Native.Type, to target: SSHConnectionOptions,
        through hop: SSHConnectionOptions, before: [SSHConnectionOptions]
    ) async throws -> TunnelEnd {
        var hopOptions = hop
        hopOptions.jumpHosts = before
        let hopName = "\(hop.user)@\(hop.host):\(hop.port)"
        let key = JumpPoolKey.make(engine: "\(Native.self)", hop: hop, before: before)
        let options = hopOptions
        // The tunnel's receive window, from the process's budget (as a download's): with libssh's own 1.28 MB, a
        // 100 MB SFTP download through the hop took a median 1.92 s, with this 1.19 s (docs/benchmarks-context-switches.md).
        let window = ReceiveWindowBudget.shared.reserve()
        let request = SSHChannelRequest(
            kind: .directTCPIP(host: target.host, port: target.port), receiveWindow: window.bytes)
        func hopFailed(_ error: any Error) -> any Error {
            guard let error = error as? SSHError else { return error }
            return error.throughJumpHost(hopName, target: target.host, port: target.port)
        }
        var attempt = 0
        while true {
            attempt += 1
            let lease: JumpLease
            let session: EngineSession<Native>
            do {
                lease = try await JumpPool.shared.lease(key) { try await self.connect(native, options) }
                guard let engineSession = try lease.connection as? EngineSession<Native> else {
                    throw SSHError(.sessionClosed, message: "the jump connection is of another engine")
                }
                session = engineSession
            } catch {
                throw hopFailed(error)
            }
            let pair: [Int32]
            do { pair = try socketPair(for: "the tunnel", host: target.host, port: target.port) } catch {
                await lease.release()
                throw error
            }
            let cause = TunnelCause()
            do {
                try await session.openSplicedChannel(request, fd: pair[1], cause: cause) {
                    await lease.release()
                    withExtendedLifetime(window) {}  // the window goes back to the budget with the tunnel
                }
            } catch {
                close(pair[0])
                close(pair[1])
                if let error = error as? SSHError, error.code == .sessionClosed || error.code == .connectionLost {
                    // The shared connection died meanwhile: once more, on a fresh one.
                    lease.invalidate()
                    await lease.release()
                    if attempt == 1 { continue }
                    throw hopFailed(error)
                }
                await lease.release()
                throw Self.tunnelRefused(error, hop: hopName, target: target)
            }
            return TunnelEnd(
                fd: pair[0], lease: lease, cause: cause, hop: hopName, target: target.host, port: target.port)
        }
    }

    /// The jump host's refusal to open a tunnel to `target` (SSH's channel-open failure reasons), as the target's
    /// error: refused or unreachable from the hop, forwarding forbidden, or the hop out of resources.
    static func tunnelRefused(_ error: any Error, hop: String, target: SSHConnectionOptions) -> any Error {
        guard var error = error as? SSHError, error.code == .channelFailure else { return error }
        let detail = (error.nativeMessage ?? "").lowercased()
        let place = "jump host \(hop) could not open a tunnel to \(target.host):\(target.port)"
        if detail.contains("prohibited") || detail.contains("(1)") {
            error.code = .permissionDenied
            error.message =
                "\(place): forwarding is administratively prohibited there (sshd's AllowTcpForwarding, PermitOpen)"
        } else if detail.contains("resource shortage") || detail.contains("(4)") {
            error.code = .resourceExhausted
            error.message = "\(place): the jump host is short of resources (file descriptors, MaxSessions)"
        } else if detail.contains("no route") || detail.contains("unreachable") || detail.contains("timed out") {
            error.code = .hostUnreachable
            error.message = "\(place): the target is unreachable from there"
        } else if detail.contains("connect failed") || detail.contains("(2)") {
            // libssh2 gives the reason only; libssh gives the jump's own words ("Connection refused").
            error.code = .connectionRefused
            error.message =
                detail.contains("refused") || !detail.contains("connect failed")
                ? "\(place): the target refused the connection"
                : "\(place): connecting from there failed (refused, or unreachable: libssh2 does not pass on which)"
        } else {
            error.message = "\(place): \(error.message)"
        }
        error.host = target.host
        error.port = target.port
        error.jumpHost = hop
        return error
    }
}
