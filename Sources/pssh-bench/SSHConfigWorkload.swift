import Foundation
import SSHConfig

/// The ssh_config evaluation benchmark: evaluates `count` distinct hosts (`node<i>.example.com`) against
/// `file`, as a run over that many hosts would. Prints one JSON line with the CPU per host.
func sshConfigWorkload(file: String, count: Int) async {
    let resolver = SSHConfigResolver()
    let start = cpuSeconds()
    var evaluated = 0
    for index in 0..<count {
        if (try? await resolver.resolve(host: "node\(index).example.com", source: .file(file))) != nil {
            evaluated += 1
        }
    }
    let cpu = cpuSeconds() - start
    print(
        """
        {"tool": "swift", "workload": "sshconfig", "file": "\(file)", "n": \(count), "cpu": \(cpu), \
        "per_host_us": \(cpu / Double(count) * 1e6), "found": \(evaluated)}
        """)
}
