import Foundation

/// Runs blocking test-support work (starting sshd, ssh-agent, ssh-keygen) on its own thread, so it never occupies
/// one of Swift's few cooperative threads that the code under test needs.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

extension TestSSHServer {
    /// Starts a server (as ``TestSSHServer/init(host:port:extraConfig:hostKeys:namespace:environment:)``) without
    /// blocking the caller's thread.
    public static func start(
        host: String = "127.0.0.1", port: Int? = nil, extraConfig: [String] = [],
        hostKeys: [String]? = nil, namespace: NetworkNamespace? = nil, environment: [String: String] = [:]
    ) async throws -> TestSSHServer {
        try await offPool {
            _ = TestUser.name  // as root, creates the test account now, off the cooperative pool
            return try TestSSHServer(
                host: host, port: port, extraConfig: extraConfig, hostKeys: hostKeys,
                namespace: namespace, environment: environment)
        }
    }

    /// The shared server, started without blocking the caller's thread.
    public static var sharedStarted: TestSSHServer {
        get async throws {
            try await offPool {
                _ = TestUser.name  // as root, creates the test account now, off the cooperative pool
                return TestSSHServer.shared
            }
        }
    }
}

extension TestAgent {
    /// Starts an agent holding `keys` without blocking the caller's thread.
    public static func start(keys: [String]) async throws -> TestAgent {
        try await offPool { try TestAgent(keys: keys) }
    }
}

extension PasswordUser {
    /// The password account (see ``shared``), prepared without blocking the caller's thread.
    public static var prepared: PasswordUser? {
        get async throws { try await offPool { PasswordUser.shared } }
    }
}
