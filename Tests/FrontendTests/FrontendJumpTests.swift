import Foundation
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHTestSupport
import Testing

/// Jump hosts through the parallel client: parallel-ssh's `proxy_*` arguments, `-J`-style chains per host, many
/// targets over few jump connections, and a dead hop failing exactly the hosts behind it. The targets sit on a
/// network namespace's loopback, out of direct reach.
@Suite(
    "Jump hosts through the parallel client", .timeLimit(.minutes(Exclusive.suiteTimeLimitMinutes)),
    .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
struct FrontendJumpTests {
    /// A namespace with a jump sshd on its link and `targets` sshds on its loopback (127.0.0.1, .2, ...).
    struct Site {
        let network: NetworkNamespace
        let jump: TestSSHServer
        let targets: [TestSSHServer]

        static func start(targets count: Int) async throws -> Site {
            let network = try await offPool { try NetworkNamespace() }
            do {
                let jump = try await TestSSHServer.start(host: network.insideAddress, namespace: network)
                var targets: [TestSSHServer] = []
                for index in 1...count {
                    targets.append(try await TestSSHServer.start(host: "127.0.0.\(index)", namespace: network))
                }
                return Site(network: network, jump: jump, targets: targets)
            } catch {
                network.remove()
                throw error
            }
        }

        func stop() {
            jump.stop()
            for target in targets { target.stop() }
            network.remove()
        }

        /// `config` with an ssh_config of its own where every hop has its key (as `ssh -J` needs: a hop gets only
        /// its own credentials, never the target's; the targets' own `privateKey` wins over the file for them).
        func withHopKey(_ config: HostConfig) throws -> HostConfig {
            let dir = try scratchDirectory("jump-config")
            let path = dir + "/ssh_config"
            try """
            Host *
                IdentityFile \(TestKeys.shared.ed25519)
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
                GlobalKnownHostsFile /dev/null

            """.write(toFile: path, atomically: true, encoding: .utf8)
            var copy = config
            copy.sshConfig = .file(path)
            return copy
        }

        /// Connections the jump sshd authenticated.
        var jumpLogins: Int { jump.log.components(separatedBy: "Accepted publickey").count - 1 }
    }

    @Test(
        "parallel-ssh's proxy (host, port, user, key of its own) reaches hosts behind a bastion",
        arguments: FrontendEngine.all)
    func proxyArguments(engine: FrontendEngine) async throws {
        let site = try await Site.start(targets: 2)
        defer { site.stop() }
        var config = Fleet.config()
        config.privateKey = .file(TestKeys.shared.ecdsa)  // the targets' key; the bastion gets its own below
        config.jump = .proxy(
            host: site.jump.host, port: site.jump.port, user: TestUser.name,
            privateKey: .file(TestKeys.shared.ed25519))
        let client = try ParallelSSHClient(
            hosts: site.targets.map(\.host), backend: engine.backend, config: config,
            hostConfig: site.targets.map { HostConfig(port: $0.port) })
        let output = try await client.runCommand("set -- $SSH_CONNECTION; echo $3 $4")
        for (host, target) in zip(output, site.targets) {
            #expect(try await host.stdout.first { _ in true } == "\(target.host) \(target.port)")
        }
        await client.disconnect()
        #expect(site.jumpLogins == 1, "one bastion connection for both hosts:\n\(site.jump.log)")
        #expect(site.jump.log.contains("Accepted publickey for \(TestUser.name) from \(site.network.outsideAddress)"))
        #expect(site.jump.log.contains("ED25519"), "the bastion got proxyPrivateKey")
    }

    @Test(
        "200 hosts behind one jump host given as jumpHosts: all answer, over a few jump connections",
        arguments: FrontendEngine.all)
    func twoHundredTargets(engine: FrontendEngine) async throws {
        try await Exclusive.run {
            let site = try await Site.start(targets: 4)
            defer { site.stop() }
            var config = try site.withHopKey(Fleet.config(timeout: .seconds(60)))
            config.jump = .hosts(["\(TestUser.name)@\(site.jump.host):\(site.jump.port)"])
            let entries = (0..<200).map { site.targets[$0 % 4] }
            let client = try ParallelSSHClient(
                hosts: entries.map(\.host), backend: engine.backend, config: config,
                hostConfig: entries.map { HostConfig(port: $0.port) }, poolSize: 200)
            let output = try await client.runCommand("set -- $SSH_CONNECTION; echo $3 $4", stopOnErrors: false)
            var answered = 0
            for (host, target) in zip(output, entries) {
                #expect(host.error == nil, "\(host.error.map { "\($0)" } ?? "")")
                if try await host.stdout.first(where: { _ in true }) == "\(target.host) \(target.port)" {
                    answered += 1
                }
            }
            #expect(answered == 200)
            await client.disconnect()
            #expect((1...4).contains(site.jumpLogins), "\(site.jumpLogins) jump connections for 200 hosts")
        }
    }

    @Test(
        "a dead jump host fails exactly the hosts behind it, each error naming host and hop; the others answer",
        arguments: FrontendEngine.all)
    func deadHopFailsItsHostsOnly(engine: FrontendEngine) async throws {
        let site = try await Site.start(targets: 1)
        defer { site.stop() }
        let target = site.targets[0]
        let deadPort = try FreePort.find(host: "127.0.0.2")
        let good = HostConfig(port: target.port, jump: .hosts(["\(TestUser.name)@\(site.jump.host):\(site.jump.port)"]))
        let dead = HostConfig(port: target.port, jump: .hosts(["\(TestUser.name)@127.0.0.2:\(deadPort)"]))
        let client = try ParallelSSHClient(
            hosts: Array(repeating: target.host, count: 6), backend: engine.backend,
            config: try site.withHopKey(Fleet.config()),
            hostConfig: [good, dead, good, dead, good, dead])
        let output = try await client.runCommand("echo ok", stopOnErrors: false)
        for (index, host) in output.enumerated() {
            if index % 2 == 0 {
                #expect(try await host.stdout.first { _ in true } == "ok")
            } else {
                let error = try #require(host.error)
                #expect(error.code == .connectionRefused && error.host == target.host && error.isJumpHostFailure)
                #expect(error.jumpHost == "\(TestUser.name)@127.0.0.2:\(deadPort)", "\(error)")
            }
        }
        await client.disconnect()
    }

    @Test("bad jump settings are refused when the client is made", arguments: FrontendEngine.all)
    func badSettings(engine: FrontendEngine) async throws {
        for (config, words) in [
            (HostConfig(jump: .hosts(["user@host:99999"])), "is not [user@]host[:port]"),
            (HostConfig(jump: .hosts(["@host"])), "is not [user@]host[:port]"),
            (HostConfig(jump: .proxy(host: "b", port: 0)), "port 0"),
            (
                HostConfig(jump: .proxy(host: "b", privateKey: .file("/nonexistent/key"))),
                "/nonexistent/key does not exist"
            ),
        ] {
            let error = #expect(throws: SSHError.self) {
                _ = try ParallelSSHClient(hosts: ["h"], backend: engine.backend, config: config)
            }
            #expect(error?.message.contains(words) == true, "\(error.map { "\($0)" } ?? "")")
        }
    }
}
