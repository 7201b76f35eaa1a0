import Foundation
import SSHTestSupport
import Testing

/// Kerberos logins (GSSAPI) against a throwaway MIT realm and an sshd with `GSSAPIAuthentication yes`, each case
/// judged by `ssh` with the same files and environment. fleetsh runs as a child with `KRB5_CONFIG` and
/// `KRB5CCNAME` of its own, as a user's shell would give them.
@Suite("fleetsh with Kerberos (GSSAPI)", .timeLimit(.minutes(5)))
struct FleetshKerberosTests {
    /// The realm, the server and an ssh_config: `kerberos` allows nothing but GSSAPI, `kerberos-or-key` also the
    /// test key.
    struct Fixture: Sendable {
        let realm: KerberosRealm
        let server: TestSSHServer
        let config: String
        static let password = "pw-\(UUID().uuidString)"

        init() throws {
            let host = "127.0.0.12"
            _ = TestUser.name
            realm = try KerberosRealm(
                hosts: [host], users: ["alice": Self.password, "bob": Self.password], account: TestUser.name)
            // Upstream's defaults plus GSSAPI; sshd's strict acceptor check would want host/<its own hostname>.
            server = try TestSSHServer(
                host: host, extraConfig: ["GSSAPIAuthentication yes", "GSSAPIStrictAcceptorCheck no"],
                environment: realm.serverEnvironment)
            config = realm.directory + "/ssh_config"
            try """
            Host kerberos kerberos-or-key
                HostName \(host)
                Port \(server.port)
                User \(TestUser.name)
                GSSAPIAuthentication yes
                IdentityAgent none
                UserKnownHostsFile \(TestKeys.shared.knownHosts)
                GlobalKnownHostsFile /dev/null
                ConnectionAttempts 1
            Host kerberos
                PubkeyAuthentication no
                PasswordAuthentication no
                KbdInteractiveAuthentication no
            Host kerberos-or-key
                IdentityFile \(TestKeys.shared.ed25519)
                IdentitiesOnly yes

            """.write(toFile: config, atomically: true, encoding: .utf8)
            chmod(config, 0o644)
        }

        /// The environment of a user whose tickets are in `cache`.
        func environment(cache: String) -> [String: String] {
            realm.environment.merging(["KRB5CCNAME": cache]) { $1 }
        }

        /// `ssh`, the oracle, with the same files and environment.
        func ssh(_ arguments: [String], cache: String) async throws -> (status: Int32, output: String) {
            let environment = environment(cache: cache)
            let config = config
            return try await offPool {
                try ProcessRunner.outcome(
                    ["/usr/bin/ssh", "-F", config, "-o", "BatchMode=yes"] + arguments, environment: environment)
            }
        }

        /// fleetsh with the same files and environment.
        func fleetsh(_ arguments: [String], cache: String) async throws -> Fleetsh.Result {
            try await Fleetsh.run(["-F", config] + arguments, environment: environment(cache: cache))
        }

        /// A credential cache holding a fresh ticket of `principal`.
        func ticket(_ principal: String = "alice", lifetime: String? = nil) async throws -> String {
            let cache = realm.newCache()
            try await offPool { try realm.kinit(principal, password: Self.password, cache: cache, lifetime: lifetime) }
            return cache
        }
    }

    private static let shared = Task { try await offPool { try Fixture() } }

    private static func fixture() async throws -> Fixture {
        if let reason = KerberosRealm.unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
        return try await shared.value
    }

    @Test("a ticket logs in with no key and no password (libssh); libssh2 says it cannot and names the libssh engine")
    func ticketLogsIn() async throws {
        let fixture = try await Self.fixture()
        let cache = try await fixture.ticket()
        let ssh = try await fixture.ssh(["kerberos", "echo ok"], cache: cache)
        #expect(ssh.status == 0 && ssh.output.contains("ok"), "ssh, the oracle, logs in: \(ssh.output)")
        let ours = try await fixture.fleetsh(["-H", "kerberos", "--", "echo ok"], cache: cache)
        #expect(ours.status == 0 && ours.lines == ["kerberos: ok"], "\(ours.stdout) \(ours.stderr)")
        #expect(fixture.server.log.contains("Accepted gssapi-with-mic for \(TestUser.name)"))

        let libssh2 = try await fixture.fleetsh(
            ["--engine", "libssh2", "-H", "kerberos", "--", "echo ok"], cache: cache)
        #expect(libssh2.status != 0, "\(libssh2.stdout)")
        #expect(
            libssh2.stderr.contains("no Kerberos (GSSAPI) authentication; use the libssh engine"), "\(libssh2.stderr)")
    }

    @Test("no ticket: GSSAPI gives way to the key as in ssh; alone, the failure says there are no credentials")
    func noTicket() async throws {
        let fixture = try await Self.fixture()
        let cache = fixture.realm.newCache()  // nothing in it
        let sshWithKey = try await fixture.ssh(["kerberos-or-key", "echo ok"], cache: cache)
        #expect(sshWithKey.status == 0, "ssh, the oracle, logs in with the key: \(sshWithKey.output)")
        let withKey = try await fixture.fleetsh(["-H", "kerberos-or-key", "--", "echo ok"], cache: cache)
        #expect(withKey.status == 0 && withKey.lines == ["kerberos-or-key: ok"], "\(withKey.stderr)")

        let sshAlone = try await fixture.ssh(["kerberos", "echo ok"], cache: cache)
        #expect(sshAlone.status == 255, "ssh, the oracle, is refused: \(sshAlone.output)")
        let alone = try await fixture.fleetsh(["-H", "kerberos", "--", "echo ok"], cache: cache)
        #expect(alone.status != 0 && alone.stdout.isEmpty)
        #expect(
            alone.stderr.contains("gssapi-with-mic (Kerberos): No Kerberos credentials available"), "\(alone.stderr)")
    }

    @Test("a KDC out of reach: GSSAPI gives way to the key as in ssh; alone, the failure names the KDC")
    func kdcOutOfReach() async throws {
        let fixture = try await Self.fixture()
        let cache = try await fixture.ticket()  // a ticket-granting ticket, but no service ticket yet
        // The same realm with its KDC at a port nothing listens on.
        let config = try String(contentsOfFile: fixture.realm.configPath, encoding: .utf8)
        let kdcLine = try #require(config.split(separator: "\n").first { $0.contains("kdc = 127.0.0.1:") })
        let closed = try FreePort.find(host: "127.0.0.1")
        let unreachable = fixture.realm.directory + "/krb5-unreachable.conf"
        try config.replacingOccurrences(of: String(kdcLine), with: "        kdc = 127.0.0.1:\(closed)")
            .write(toFile: unreachable, atomically: true, encoding: .utf8)
        let environment = fixture.environment(cache: cache).merging(["KRB5_CONFIG": unreachable]) { $1 }
        let ssh = try await offPool {
            try ProcessRunner.outcome(
                ["/usr/bin/ssh", "-F", fixture.config, "-o", "BatchMode=yes", "kerberos-or-key", "echo ok"],
                environment: environment)
        }
        #expect(ssh.status == 0, "ssh, the oracle, logs in with the key: \(ssh.output)")
        let withKey = try await Fleetsh.run(
            ["-F", fixture.config, "-H", "kerberos-or-key", "--", "echo ok"], environment: environment)
        #expect(withKey.status == 0 && withKey.lines == ["kerberos-or-key: ok"], "\(withKey.stderr)")
        let alone = try await Fleetsh.run(
            ["-F", fixture.config, "-H", "kerberos", "--", "echo ok"], environment: environment)
        #expect(alone.status != 0 && alone.stderr.contains("KDC"), "\(alone.stderr)")
    }

    @Test("an expired ticket is refused before the server is asked, and the error says it expired")
    func expiredTicket() async throws {
        let fixture = try await Self.fixture()
        let cache = try await fixture.ticket("bob", lifetime: "1s")
        // klist, the oracle of expiry, waited for (the ticket's life is the KDC's clock, not ours).
        try await waitUntil("bob's one-second ticket to expire") {
            try await offPool { try !fixture.realm.hasValidTicket(cache: cache) }
        }
        let ours = try await fixture.fleetsh(["-H", "kerberos", "--", "echo ok"], cache: cache)
        #expect(ours.status != 0 && ours.stdout.isEmpty)
        #expect(ours.stderr.contains("the Kerberos ticket has expired (kinit gets a new one)"), "\(ours.stderr)")
        // ssh is not the oracle here: within the realm's clock skew (5 minutes) the KDC still serves an expired
        // ticket-granting ticket and ssh logs in; libssh refuses it (docs/feature-matrix.md).
    }

    @Test("-K delegates the ticket: klist on the host lists the user's principal; without it, no credentials there")
    func delegation() async throws {
        let fixture = try await Self.fixture()
        let cache = try await fixture.ticket()
        let command = "klist 2>&1 | grep -c 'Default principal: alice@PSSH.TEST'"
        let ssh = try await fixture.ssh(["-K", "kerberos", command], cache: cache)
        #expect(ssh.status == 0 && ssh.output.contains("1"), "ssh -K, the oracle, delegates: \(ssh.output)")
        let delegated = try await fixture.fleetsh(["-K", "-H", "kerberos", "--", command], cache: cache)
        #expect(delegated.status == 0 && delegated.lines == ["kerberos: 1"], "\(delegated.stdout) \(delegated.stderr)")

        let sshPlain = try await fixture.ssh(["kerberos", command], cache: cache)
        #expect(sshPlain.output.contains("0"), "ssh without -K delegates nothing: \(sshPlain.output)")
        let plain = try await fixture.fleetsh(["-H", "kerberos", "--", command], cache: cache)
        #expect(plain.lines == ["kerberos: 0"], "\(plain.stdout) \(plain.stderr)")
    }
}
