import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway MIT Kerberos realm: its database, stash, keytab and configuration under one scratch directory, and
/// `krb5kdc` in the foreground under a watchdog (it dies with the tests), listening on 127.0.0.1 only, on a free
/// port. Host principals get a keytab for the test sshd; user principals map to the test account. Nothing of the
/// machine's own Kerberos set-up is read or touched: every command gets `KRB5_CONFIG` pointing here. Root only
/// (the KDC's database and the sshd that reads the keytab).
public final class KerberosRealm: @unchecked Sendable {
    /// Why a realm cannot start here, if it cannot.
    public static let unavailableReason: String? = {
        if getuid() != 0 { return "a Kerberos realm with an sshd reading its keytab needs root" }
        for tool in ["/usr/sbin/kdb5_util", "/usr/sbin/kadmin.local", "/usr/sbin/krb5kdc", "/usr/bin/kinit"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing: install krb5-kdc, krb5-admin-server and krb5-user (scripts/install-deps does)"
        }
        return nil
    }()

    /// The realm's name.
    public let realm = "PSSH.TEST"
    /// Where everything lives.
    public let directory: String
    /// The `krb5.conf` of clients, the KDC and sshd alike.
    public let configPath: String
    /// The keytab holding the host principals' keys, for sshd (`KRB5_KTNAME`).
    public let keytab: String
    private var kdc: SpawnedProcess?

    /// Creates the realm with a `host/<name>` principal for each of `hosts` (in the keytab) and each of `users`
    /// (principal name → password), every user principal mapped to the local account `account`; starts the KDC.
    public init(hosts: [String], users: [String: String], account: String) throws {
        directory = try scratchDirectory("krb5")
        configPath = directory + "/krb5.conf"
        keytab = directory + "/sshd.keytab"
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try FreePort.find(host: "127.0.0.1")
            do {
                try start(port: port, hosts: hosts, users: users, account: account)
                return
            } catch {
                lastError = error
                kdc?.stop()
                kdc = nil
            }
        }
        throw lastError ?? TestSupportError("the KDC did not start")
    }

    private func start(port: Int, hosts: [String], users: [String: String], account: String) throws {
        let dir = directory
        let mappings = users.keys.sorted().map { "            \($0) = \(account)" }.joined(separator: "\n")
        // No DNS of any kind: names are taken as given (host@127.0.0.x is host/127.0.0.x), the KDC is this one.
        try """
        [libdefaults]
            default_realm = \(realm)
            dns_lookup_kdc = false
            dns_lookup_realm = false
            dns_canonicalize_hostname = false
            rdns = false
            forwardable = true
            udp_preference_limit = 1
        [realms]
            \(realm) = {
                kdc = 127.0.0.1:\(port)
                database_name = \(dir)/principal
                key_stash_file = \(dir)/stash
                auth_to_local_names = {
        \(mappings)
                }
            }
        [kdcdefaults]
            kdc_listen = 127.0.0.1:\(port)
            kdc_tcp_listen = 127.0.0.1:\(port)
        [logging]
            kdc = FILE:\(dir)/kdc.log

        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        chmod(configPath, 0o644)
        if !FileManager.default.fileExists(atPath: "\(dir)/principal") {
            try ProcessRunner.run(
                ["/usr/sbin/kdb5_util", "create", "-s", "-r", realm, "-P", "master-\(UUID().uuidString)"],
                environment: environment)
            for (user, password) in users.sorted(by: { $0.key < $1.key }) {
                try admin("addprinc -pw \(password) \(user)")
            }
            for host in hosts {
                try admin("addprinc -randkey host/\(host)")
                try admin("ktadd -k \(keytab) host/\(host)")
            }
        }
        try? FileManager.default.removeItem(atPath: "\(dir)/kdc.log")
        let process = try ProcessRunner.spawnGuarded(
            ["/usr/sbin/krb5kdc", "-n", "-P", "\(dir)/kdc.pid"], logFile: "\(dir)/kdc.out",
            environment: environment)
        kdc = process
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: "\(dir)/kdc.log", encoding: .utf8)) ?? ""
            if log.contains("commencing operation") { return }
            if log.contains("Address already in use") || process.log.contains("Address already in use") {
                throw TestSupportError("the KDC's port \(port) is taken")
            }
            usleep(20_000)
        }
        throw TestSupportError("the KDC did not start: \(process.log)")
    }

    private func admin(_ query: String) throws {
        try ProcessRunner.run(["/usr/sbin/kadmin.local", "-r", realm, "-q", query], environment: environment)
    }

    /// `KRB5_CONFIG` for any Kerberos client (kinit, klist, ssh, fleetsh).
    public var environment: [String: String] { ["KRB5_CONFIG": configPath] }

    /// What sshd needs: the configuration and the keytab.
    public var serverEnvironment: [String: String] { ["KRB5_CONFIG": configPath, "KRB5_KTNAME": keytab] }

    /// A fresh credential cache file path (nothing in it until ``kinit(_:password:cache:lifetime:)``).
    public func newCache() -> String { "FILE:\(directory)/cc-\(UUID().uuidString)" }

    /// `kinit`s `principal` into `cache` with a forwardable ticket, for `lifetime` (kinit's syntax, e.g. `2s`)
    /// when given.
    public func kinit(_ principal: String, password: String, cache: String, lifetime: String? = nil) throws {
        var arguments = ["/usr/bin/kinit", "-f"]
        if let lifetime { arguments += ["-l", lifetime] }
        try ProcessRunner.run(
            arguments + [principal], environment: environment.merging(["KRB5CCNAME": cache]) { $1 },
            input: password + "\n")
    }

    /// Whether `cache` holds a ticket-granting ticket that has not expired (`klist -s`).
    public func hasValidTicket(cache: String) throws -> Bool {
        try ProcessRunner.outcome(
            ["/usr/bin/klist", "-s"], environment: environment.merging(["KRB5CCNAME": cache]) { $1 }
        ).status == 0
    }

    /// The KDC's log.
    public var log: String { (try? String(contentsOfFile: "\(directory)/kdc.log", encoding: .utf8)) ?? "" }

    /// Stops the KDC and removes the realm.
    public func stop() {
        kdc?.stop()
        kdc = nil
        try? FileManager.default.removeItem(atPath: directory)
    }
}
