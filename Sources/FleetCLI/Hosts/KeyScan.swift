import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHKnownHosts
import Synchronization

/// The trust step: the host keys of a host set, each compared with the known-hosts files its `ssh_config` names,
/// and the new ones written there when the operator says so: the safe bulk alternative to turning checking off.
/// Scanning sends nothing after key exchange (a verifier records the key and ends the connection), so no
/// credential ever reaches a host whose key is not yet trusted.
public enum KeyScan {
    /// What one host's key is, against the known-hosts files.
    public enum Status: String, Sendable {
        /// The key is known for the host.
        case known
        /// No key is known for the host: it can be trusted.
        case new
        /// Another key is known for the host (REMOTE HOST IDENTIFICATION HAS CHANGED); never written.
        case changed
        /// The key is marked `@revoked`; never written.
        case revoked
    }

    /// One host's scan.
    public struct Finding: Sendable {
        /// The host as given.
        public let name: String
        /// The key, or why none was got.
        public let result: Result<(key: SSHHostKey, info: HostKeyInfo, status: Status), SSHError>
        /// The check that decided the status (it writes the key when trusted).
        let check: HostKeyCheck?
        /// The file a trusted key is written to.
        public let file: String?

        /// `host type SHA256:... status` (the status in capitals when it forbids trusting), or `nil` without a key.
        public var line: String? {
            guard case .success(let found) = result else { return nil }
            let mark =
                found.status == .known || found.status == .new
                ? found.status.rawValue : found.status.rawValue.uppercased()
            return "\(name) \(found.info.displayType) \(found.info.fingerprint) \(mark)"
        }
    }

    /// Records the key the target presents and ends its connection; jump hosts on the way (whose connections
    /// get the same policy) are checked as usual under `policy` instead, so the scan reaches the target.
    private final class Recorder: SSHHostKeyVerifier {
        let key = Mutex<SSHHostKey?>(nil)
        let target: (host: String, port: Int)
        let policy: SSHHostKeyPolicy

        init(target: (host: String, port: Int), policy: SSHHostKeyPolicy) {
            self.target = target
            self.policy = policy
        }

        func verify(_ key: SSHHostKey, host: String, port: Int) async throws {
            guard host == target.host && port == target.port else {
                _ = try await HostKeyCheck.prepare(policy, host: host, port: port).decide(key, offered: [key.algorithm])
                return
            }
            self.key.withLock { $0 = key }
            throw SSHError(.hostKeyUnknown, host: host, port: port, message: "scanned")
        }
    }

    /// Scans `hosts` (at most `concurrency` at once) with the settings of `config` and `engine`; the findings in
    /// the hosts' order.
    public static func scan(
        _ hosts: [HostEntry], config: HostConfig, engine: EngineChoice,
        concurrency: Int
    ) async throws -> [Finding] {
        var findings: [(index: Int, finding: Finding)] = []
        try await ParallelRun.forEachHost(
            hosts.lazy.map(\.target), backend: engine.backend, config: config,
            concurrency: concurrency
        ) { client in
            await scanOne(client, name: hosts[client.index].name, config: config, engine: engine)
        } completed: { run in
            switch run.result {
            case .success(let finding):
                findings.append((run.index, finding))
            case .failure(let error):
                let failure = (error as? SSHError) ?? SSHError(.protocolError, message: "\(error)")
                findings.append(
                    (run.index, Finding(name: hosts[run.index].name, result: .failure(failure), check: nil, file: nil)))
            }
        }
        return findings.sorted { $0.index < $1.index }.map(\.finding)
    }

    private static func scanOne(_ client: SSHClient, name: String, config: HostConfig, engine: EngineChoice) async
        -> Finding
    {
        do {
            let resolved = try await client.resolvedConfig()
            var policy = config.hostKeyPolicy ?? SSHHostKeyPolicy()
            if let resolved, config.hostKeyPolicy == nil {
                policy.userKnownHostsFiles = resolved.userKnownHostsFiles
                policy.globalKnownHostsFiles = resolved.globalKnownHostsFiles
                policy.hostKeyAlias = resolved.hostKeyAlias
                policy.hashKnownHosts = resolved.hashKnownHosts
            }
            let host = resolved?.hostName ?? client.host
            let port = resolved?.port ?? client.config.port ?? 22
            let recorder = Recorder(target: (host, port), policy: policy)
            var scanning = client.config
            scanning.hostKeyPolicy = SSHHostKeyPolicy(verifier: recorder)
            scanning.connectionAttempts = 1
            let scanner = try SSHClient(host: client.host, backend: engine.backend, config: scanning)
            do {
                try await scanner.connect()
            } catch {
                // The recorder ends every connection that got as far as the key; any other failure is the host's.
                if recorder.key.withLock({ $0 }) == nil {
                    let failure =
                        (error as? SSHError) ?? SSHError(.protocolError, host: host, port: port, message: "\(error)")
                    return Finding(name: name, result: .failure(failure), check: nil, file: nil)
                }
            }
            await scanner.disconnect()
            guard let key = recorder.key.withLock({ $0 }), let info = HostKeyInfo(key) else {
                return Finding(
                    name: name,
                    result: .failure(
                        SSHError(
                            .protocolError, host: host, port: port,
                            message: "the server's host key cannot be read")),
                    check: nil, file: nil)
            }
            policy.mode = .acceptNew
            let check = await HostKeyCheck.prepare(policy, host: host, port: port)
            let status: Status
            switch check.decideNow(key, offered: [key.algorithm]) {
            case .success?: status = .known
            case .failure(let error)? where error.code == .hostKeyRevoked: status = .revoked
            case .failure?: status = .changed
            case nil: status = .new
            }
            return Finding(
                name: name, result: .success((key, info, status)), check: check,
                file: policy.userKnownHostsFiles.first.map { NSString(string: $0).expandingTildeInPath })
        } catch {
            return Finding(
                name: name, result: .failure((error as? SSHError) ?? SSHError(.protocolError, message: "\(error)")),
                check: nil, file: nil)
        }
    }

    /// Writes the key of `finding` (a new one) to its host's first user known-hosts file.
    public static func trust(_ finding: Finding) async throws {
        guard case .success(let found) = finding.result, found.status == .new, let check = finding.check else { return }
        try await check.record(found.key)
    }
}
