import SSHBackend
import SSHEngineCore
import SSHEventLoop

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
    private let runtime: EngineRuntime

    /// Creates the engine on the process-wide event loops.
    /// - Parameter outputBufferSize: bytes per output stream buffered while nobody reads (default 256 KiB).
    public init(outputBufferSize: Int = 256 * 1024) {
        runtime = EngineRuntime(outputBufferSize: outputBufferSize)
    }

    /// Creates the engine on `loops` (a test's loops on a ``ManualClock``).
    package init(outputBufferSize: Int = 256 * 1024, loops: EventLoopGroup) {
        runtime = EngineRuntime(outputBufferSize: outputBufferSize, group: loops)
    }

    /// Bytes each output stream (stdout, stderr) of a channel may buffer before reading pauses.
    public var outputBufferSize: Int { runtime.outputBufferSize }

    /// The libssh2 library version in use.
    public var libraryVersion: String { LibSSH2Library.version }

    /// What libssh2 1.10 can do through this engine.
    public var capabilities: Set<SSHCapability> { Self.declaredCapabilities }

    /// The event loops' executor: the client's per-host work stays on the loop that resumed it.
    public var preferredTaskExecutor: (any TaskExecutor)? { LoopTaskExecutor.shared }

    /// The capabilities, as a static list (the feature matrix is checked against it).
    public static let declaredCapabilities: Set<SSHCapability> = [
        .passwordAuth, .keyboardInteractiveAuth, .privateKeyFileAuth, .privateKeyMemoryAuth, .keyDecryptedOnce,
        .agentAuth,
        .hostKeyVerification, .exec, .pty, .environment, .shell, .exitSignal, .concurrentChannels, .keepalive,
        .proxyCommand, .jumpHosts, .compression, .sftp, .scp,
    ]

    public func connect(_ options: SSHConnectionOptions) async throws -> any SSHSession {
        // Passphrase-protected keys are decrypted once per process, off the loops (LibSSH2KeyCache).
        try await runtime.connect(LibSSH2Connection.self, options)
    }
}
