import SSHBackend
import SSHEventLoop
import Synchronization

/// The libssh2 engine: libssh2 in non-blocking mode on the shared epoll event loops.
///
/// ```swift
/// let backend = LibSSH2Backend()
/// let session = try await backend.connect(SSHConnectionOptions(host: "127.0.0.1", port: 2222,
///     authMethods: [.privateKeyFile(path: "~/.ssh/id_ed25519")]))
/// ```
///
/// libssh2 1.10 cannot authenticate with RSA user keys against OpenSSH 8.8 or later (it signs with SHA-1);
/// use ed25519 or ECDSA keys, or the libssh engine.
public struct LibSSH2Backend: SSHBackend {
    /// `"libssh2"`.
    public let name = "libssh2"
    /// Bytes each output stream (stdout, stderr) of a channel may buffer before reading pauses.
    public let outputBufferSize: Int
    private let group: EventLoopGroup

    /// Creates the engine on the process-wide event loops.
    /// - Parameter outputBufferSize: bytes per output stream buffered while nobody reads (default 256 KiB).
    public init(outputBufferSize: Int = 256 * 1024) {
        self.init(outputBufferSize: outputBufferSize, group: .shared)
    }

    package init(outputBufferSize: Int, group: EventLoopGroup) {
        self.outputBufferSize = max(1024, outputBufferSize)
        self.group = group
    }

    /// The libssh2 library version in use.
    public var libraryVersion: String { LibSSH2Library.version }

    /// What libssh2 1.10 can do through this engine.
    public var capabilities: Set<SSHCapability> { Self.declaredCapabilities }

    /// The capabilities, as a static list (the feature matrix is checked against it).
    public static let declaredCapabilities: Set<SSHCapability> = [
        .passwordAuth, .keyboardInteractiveAuth, .privateKeyFileAuth, .privateKeyMemoryAuth, .agentAuth,
        .exec, .pty, .environment, .shell, .exitSignal, .concurrentChannels, .keepalive, .compression,
    ]

    public func connect(_ options: SSHConnectionOptions) async throws -> any SSHSession {
        try options.validate()
        let loop = group.next()
        let addresses: [SocketAddress]
        do {
            addresses = try await AddressResolver.resolve(
                host: options.host, port: options.port, family: options.addressFamily,
                timeout: options.connectTimeout, loop: loop)
        } catch let error as SSHError {
            throw error.on(host: options.host, port: options.port)
        }
        let capacity = outputBufferSize
        let slot = Mutex<(bound: LoopBound<LibSSH2Connection>?, cancelled: Bool)>((nil, false))
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                loop.execute {
                    let connection = LibSSH2Connection(loop: loop, options: options, streamCapacity: capacity)
                    let bound = LoopBound(connection, loop: loop)
                    let cancelled = slot.withLock { slot in
                        slot.bound = bound
                        return slot.cancelled
                    }
                    if cancelled {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    connection.enqueue(LibSSH2ConnectOperation(addresses: addresses, options: options,
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
        return LibSSH2Session(options: options, connection: bound)
    }
}
