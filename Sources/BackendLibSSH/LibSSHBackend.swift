import SSHBackend
import SSHEngineCore
import SSHEventLoop

/// The libssh engine: libssh in non-blocking mode on the same shared epoll event loops as the libssh2 engine.
///
/// ```swift
/// let backend = LibSSHBackend()
/// let session = try await backend.connect(SSHConnectionOptions(host: "127.0.0.1", port: 2222,
///     authMethods: [.privateKeyFile(path: "~/.ssh/id_rsa")]))
/// ```
///
/// libssh is handed an already connected socket: it never resolves names or connects by itself, and it reads
/// neither `~/.ssh/config` nor known_hosts files. Beyond libssh2 1.10 it signs RSA user keys with rsa-sha2
/// (OpenSSH 8.8 and later require that), authenticates with OpenSSH user certificates, and sends signals to
/// remote commands.
public struct LibSSHBackend: SSHBackend {
    /// `"libssh"`.
    public let name = "libssh"
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

    /// The libssh library version in use.
    public var libraryVersion: String { LibSSHLibrary.version }

    /// What libssh 0.10 can do through this engine.
    public var capabilities: Set<SSHCapability> { Self.declaredCapabilities }

    /// The event loops' executor: the client's per-host work stays on the loop that resumed it.
    public var preferredTaskExecutor: (any TaskExecutor)? { LoopTaskExecutor.shared }

    /// The capabilities, as a static list (the feature matrix is checked against it).
    public static let declaredCapabilities: Set<SSHCapability> = [
        .passwordAuth, .keyboardInteractiveAuth, .privateKeyFileAuth, .privateKeyMemoryAuth, .keyDecryptedOnce,
        .agentAuth,
        .rsaSHA2UserKeys, .userCertificates, .gssapiAuth, .authenticationBanner, .hostKeyVerification, .rsaSHA2HostKeys,
        .exec, .pty,
        .environment, .shell,
        .exitSignal, .sendSignal, .concurrentChannels, .keepalive, .proxyCommand, .jumpHosts, .agentForwarding,
        .compression, .sftp,
        .scp,
    ]

    public func connect(_ options: SSHConnectionOptions) async throws -> any SSHSession {
        // Keys are parsed and decrypted once per process, off the loops (LibSSHKeyCache, a PrivateKeyCache).
        try await runtime.connect(LibSSHConnection.self, options)
    }
}
