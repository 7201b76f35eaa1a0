@_exported import BackendLibSSH
@_exported import BackendLibSSH2
@_exported import Logging
@_exported import ParallelFrontend
@_exported import SSHBackend
@_exported import SSHConfig

// One import for the common case: the parallel client, both engines, the API types and the loggers, with
// libssh as the default engine: it connects wherever `ssh` does on a stock Debian 12 (RSA user keys with SHA-2
// signatures against OpenSSH 8.8 and later, chacha20-poly1305 and AES-GCM for TinySSH, user certificates), where
// the distribution's libssh2 1.10 cannot. parallel-ssh defaults to libssh2 because it bundles 1.11. `backend:`
// still picks either engine.

extension ParallelSSHClient {
    /// Creates a client on the default engine, libssh (it connects wherever `ssh` does; the system's libssh2 1.10
    /// cannot sign with RSA SHA-2 or speak chacha20-poly1305); the parameters are those of
    /// `init(hosts:backend:config:...)`, which picks the engine (`LibSSH2Backend()` for libssh2).
    ///
    /// ```swift
    /// import ParallelSSH
    ///
    /// let client = try ParallelSSHClient(hosts: ["web1", "web2"], config: HostConfig(user: "deploy"))
    /// ```
    public convenience init(
        hosts: [String], config: HostConfig = HostConfig(), hostConfig: [HostConfig]? = nil,
        poolSize: Int = 100, maxConcurrentHandshakes: Int = 64, hostLogger: Logger? = nil,
        logger: Logger? = nil
    ) throws(SSHError) {
        try self.init(
            hosts: hosts, backend: LibSSHBackend(), config: config, hostConfig: hostConfig,
            poolSize: poolSize, maxConcurrentHandshakes: maxConcurrentHandshakes, hostLogger: hostLogger,
            logger: logger)
    }
}

extension SSHClient {
    /// Creates a client for one host on the default engine, libssh; the parameters are those of
    /// `init(host:backend:config:...)`, which picks the engine.
    public init(
        host: String, config: HostConfig = HostConfig(), hostLogger: Logger? = nil,
        logger: Logger? = nil
    ) throws(SSHError) {
        try self.init(host: host, backend: LibSSHBackend(), config: config, hostLogger: hostLogger, logger: logger)
    }
}
