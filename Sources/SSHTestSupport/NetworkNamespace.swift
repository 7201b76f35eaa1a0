import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A network namespace of the test's own, linked to this machine by a veth pair: hosts inside are reachable from
/// here only at ``insideAddress`` (and only where something listens there), and the namespace's own loopback is
/// out of our reach, as a private network behind a bastion is. Needs root; deleted (with its link) by ``remove()``.
public final class NetworkNamespace: Sendable {
    /// Whether namespaces can be made here (root, iproute2); the reason when not.
    public static let unavailableReason: String? = {
        if getuid() != 0 { return "network namespaces need root" }
        if !FileManager.default.isExecutableFile(atPath: ip) { return "\(ip) is missing: install iproute2" }
        return nil
    }()

    private static let ip = "/usr/sbin/ip"
    private static let counter = Mutex(0)

    /// The namespace's name (`ip netns`).
    public let name: String
    /// Our end of the link.
    public let outsideAddress: String
    /// The namespace's end of the link: the one address of it we can reach.
    public let insideAddress: String
    private let outsideLink: String
    private let insideLink: String
    /// The link's /30, also routed to a local blackhole: should our end's route ever go, packets for the
    /// namespace are dropped here instead of following the default route off this machine.
    private let subnet: String

    /// Creates the namespace, its loopback and a /30 link to it, in `10.251.<n>.0` (the test known-hosts file
    /// trusts 10.251.*).
    public init() throws {
        let n = Self.counter.withLock { count -> Int in
            count += 1
            return (Int(getpid()) &* 7 &+ count) % 250 + 1
        }
        name = "pssh-test-\(getpid())-\(n)"
        outsideLink = "psshv\(getpid() % 10000)x\(n)"
        insideLink = outsideLink + "i"
        outsideAddress = "10.251.\(n).1"
        insideAddress = "10.251.\(n).2"
        subnet = "10.251.\(n).0/30"
        _ = try? ProcessRunner.outcome([Self.ip, "netns", "del", name])
        _ = try? ProcessRunner.outcome([Self.ip, "route", "del", "blackhole", subnet])
        let steps: [[String]] = [
            ["route", "add", "blackhole", subnet, "metric", "4000"],
            ["netns", "add", name],
            ["link", "add", outsideLink, "type", "veth", "peer", "name", insideLink],
            ["link", "set", insideLink, "netns", name],
            ["addr", "add", "\(outsideAddress)/30", "dev", outsideLink],
            ["link", "set", outsideLink, "up"],
            ["-n", name, "addr", "add", "\(insideAddress)/30", "dev", insideLink],
            ["-n", name, "link", "set", insideLink, "up"],
            ["-n", name, "link", "set", "lo", "up"],
        ]
        for step in steps {
            do { try ProcessRunner.run([Self.ip] + step) } catch {
                remove()
                throw TestSupportError("ip \(step.joined(separator: " ")) failed: \(error)")
            }
        }
    }

    /// `arguments` as run inside the namespace.
    public func command(_ arguments: [String]) -> [String] { [Self.ip, "netns", "exec", name] + arguments }

    /// Takes the namespace's end of the link down (`up: false`, its cable pulled: our packets go out and vanish,
    /// nothing is reset; a new connection finds no neighbour) or up. Our end stays up, so its route stays and no
    /// packet for the namespace leaves this machine.
    /// Bytes received and not yet read by any program on TCP connections to local `port` inside the namespace
    /// (its `/proc/net/tcp` and `tcp6` receive queues): what a frozen server has been sent.
    public func bytesQueued(toPort port: Int) throws -> Int {
        let portHex = String(format: "%04X", port)
        var total = 0
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = try ProcessRunner.run(command(["cat", table]))
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                // local_address rem_address st tx_queue:rx_queue ...; state 01 is ESTABLISHED.
                guard fields.count > 4, fields[1].hasSuffix(":" + portHex), fields[3] == "01" else { continue }
                let queues = fields[4].split(separator: ":")
                if queues.count == 2 { total += Int(queues[1], radix: 16) ?? 0 }
            }
        }
        return total
    }

    public func setLink(up: Bool) throws {
        try ProcessRunner.run([Self.ip, "-n", name, "link", "set", insideLink, up ? "up" : "down"])
    }

    /// Deletes the namespace and its link; processes inside keep running until stopped.
    public func remove() {
        _ = try? ProcessRunner.outcome([Self.ip, "link", "del", outsideLink])
        _ = try? ProcessRunner.outcome([Self.ip, "netns", "del", name])
        _ = try? ProcessRunner.outcome([Self.ip, "route", "del", "blackhole", subnet])
    }
}
