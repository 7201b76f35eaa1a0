@_exported import BackendLibSSH
@_exported import BackendLibSSH2
@_exported import Logging
@_exported import ParallelFrontend
@_exported import SSHBackend
@_exported import SSHConfig

// One import for the common case: the parallel client, both engines, the API types and the loggers, with
// libssh2 as the default engine (as parallel-ssh's default client). `backend:` still picks either engine.

extension ParallelSSHClient {
    /// Creates a client on the default engine, libssh2 (parallel-ssh's default client is on libssh2 too); the
    /// parameters are those of `init(hosts:backend:config:...)`, which picks the engine.
    ///
    /// ```swift
    /// import ParallelSSH
    ///
    /// let client = try ParallelSSHClient(hosts: ["web1", "web2"], config: HostConfig(user: "deploy"))
    /// ```
    public convenience init(hosts: [String], config: HostConfig = HostConfig(), hostConfig: [HostConfig]? = nil,
                            poolSize: Int = 100, maxConcurrentHandshakes: Int = 64, hostLogger: Logger? = nil,
                            logger: Logger? = nil) throws(SSHError) {
        try self.init(hosts: hosts, backend: LibSSH2Backend(), config: config, hostConfig: hostConfig,
                      poolSize: poolSize, maxConcurrentHandshakes: maxConcurrentHandshakes, hostLogger: hostLogger,
                      logger: logger)
    }
}

extension SSHClient {
    /// Creates a client for one host on the default engine, libssh2; the parameters are those of
    /// `init(host:backend:config:...)`, which picks the engine.
    public init(host: String, config: HostConfig = HostConfig(), hostLogger: Logger? = nil,
                logger: Logger? = nil) throws(SSHError) {
        try self.init(host: host, backend: LibSSH2Backend(), config: config, hostLogger: hostLogger, logger: logger)
    }
}
