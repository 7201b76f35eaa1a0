import Foundation
import SSHBackend
import SSHKnownHosts

/// The known-hosts lookup benchmark: parses `file` once, then looks up `count` distinct names
/// (`node<i>.example.com`), as that many connections would before connecting. Prints one JSON line: the parse
/// time, the CPU per lookup, and how many names were found.
func knownHostsWorkload(file: String, count: Int) async {
    let store = KnownHostsStore()
    let policy = SSHHostKeyPolicy(userKnownHostsFiles: [file], globalKnownHostsFiles: [])
    let loadStart = cpuSeconds()
    _ = await HostKeyCheck.prepare(policy, host: "warm-up.invalid", port: 22, store: store)
    let load = cpuSeconds() - loadStart
    let start = cpuSeconds()
    var found = 0
    for index in 0..<count {
        let check = await HostKeyCheck.prepare(policy, host: "node\(index).example.com", port: 22, store: store)
        if !check.knownTypes.isEmpty { found += 1 }
    }
    let cpu = cpuSeconds() - start
    print(
        """
        {"tool": "swift", "workload": "knownhosts", "file": "\(file)", "n": \(count), "load_cpu": \(load), \
        "cpu": \(cpu), "per_lookup_us": \(cpu / Double(count) * 1e6), "found": \(found)}
        """)
}
