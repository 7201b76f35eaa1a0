import Foundation
import SSHTestSupport

/// Runs the built `fleetsh` (beside the test bundle) with separate stdout and stderr, off the cooperative pool; a
/// status past 128 is a signal's.
struct Fleetsh {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    static var path: String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("fleetsh").path
    }

    static func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) async throws
        -> Result
    {
        try await offPool {
            var env = ProcessInfo.processInfo.environment
            env["NO_COLOR"] = "1"
            for (key, value) in environment { env[key] = value }
            let base = NSTemporaryDirectory() + "fleetsh-\(UUID().uuidString)"
            defer {
                for suffix in [".out", ".err", ".in"] { try? FileManager.default.removeItem(atPath: base + suffix) }
            }
            if let input { try input.write(toFile: base + ".in", atomically: true, encoding: .utf8) }
            let termination = try ChildProgram.run(
                [path] + arguments, environment: env,
                stdin: input == nil ? nil : base + ".in",
                stdout: base + ".out", stderr: base + ".err")
            return Result(
                status: termination.status,
                stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
        }
    }
}

/// Three test servers under the aliases web1, web2, web3 in an ssh_config of the test's own (user, key and
/// known hosts of the tests; never the user's files).
struct Site {
    let servers: [TestSSHServer]
    let directory: String
    let config: String

    static func start() async throws -> Site {
        var servers: [TestSSHServer] = []
        for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            servers.append(try await TestSSHServer.start(host: host))
        }
        let directory = try scratchDirectory("fleetsh")
        var text = ""
        for (index, server) in servers.enumerated() {
            text += "Host web\(index + 1)\n    HostName \(server.host)\n    Port \(server.port)\n"
        }
        text += """
            Host *
                User \(TestUser.name)
                IdentityFile \(TestKeys.shared.ed25519)
                IdentitiesOnly yes
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
                GlobalKnownHostsFile /dev/null
                ConnectionAttempts 1

            """
        let config = directory + "/ssh_config"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        return Site(servers: servers, directory: directory, config: config)
    }

    func stop() {
        for server in servers { server.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
