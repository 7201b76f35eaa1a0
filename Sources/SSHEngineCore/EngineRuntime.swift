import SSHBackend
import SSHEventLoop
import SSHKnownHosts
import Synchronization

/// What an engine's public backend type holds besides its name: the output buffer size and the event loops, and
/// the `connect` that every engine shares (validate, resolve off-loop, then create the connection driver on a loop
/// and let it connect, with task cancellation failing it wherever it is).
package struct EngineRuntime: Sendable {
    /// Bytes each output stream (stdout, stderr) of a channel may buffer before reading pauses.
    package let outputBufferSize: Int
    private let group: EventLoopGroup

    /// Settles the buffer size (at least 1 KiB) on the process-wide loops.
    package init(outputBufferSize: Int) {
        self.outputBufferSize = max(1024, outputBufferSize)
        group = .shared
    }

    /// Connects with the engine whose native connection is `native`, and returns the authenticated session.
    package func connect<Native: NativeConnection>(_ native: Native.Type, _ options: SSHConnectionOptions)
        async throws -> any SSHSession
    {
        try options.validate()
        let loop = group.next()
        var addresses: [SocketAddress] = []
        if options.proxyCommand == nil {
            do {
                addresses = try await AddressResolver.resolve(
                    host: options.host, port: options.port, family: options.addressFamily,
                    timeout: options.connectTimeout, loop: loop)
            } catch let error as SSHError {
                throw error.on(host: options.host, port: options.port)
            }
        }
        let hostKeyCheck = await HostKeyCheck.prepare(options.hostKeyPolicy, host: options.host, port: options.port)
        var proxy: ProxyCommandProcess?
        if let command = options.proxyCommand {
            let (host, port) = (options.host, options.port)
            proxy = try await BlockingPool.shared.run { () throws(SSHError) in
                try ProxyCommandProcess.spawn(command, host: host, port: port)
            }
        }
        let (started, resolved) = (proxy, addresses)
        let capacity = outputBufferSize
        let slot = Mutex<(bound: LoopBound<ConnectionDriver<Native>>?, cancelled: Bool)>((nil, false))
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                loop.execute {
                    let connection = ConnectionDriver<Native>(loop: loop, options: options, streamCapacity: capacity)
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
                    connection.enqueue(ConnectOperation(addresses: resolved, proxy: started, options: options,
                                                        hostKeyCheck: hostKeyCheck, continuation: continuation))
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
        return EngineSession(options: options, connection: bound)
    }
}
