// A child process for the exit-time regression test: it opens sessions on both engines, keeps every event loop busy
// streaming encrypted output, and calls exit(0) in the middle of that work, as a user's program that ends with
// sessions open does. Exiting must be clean: status 0, no crash in an exit handler or a library destructor.
//
// Usage: exit-probe HOST PORT USER KEYFILE SESSIONS DELAY_MS KNOWN_HOSTS
import BackendLibSSH
import BackendLibSSH2
import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 8, let port = Int(arguments[2]), let sessions = Int(arguments[5]),
    let delay = Int(arguments[6])
else {
    print("usage: exit-probe HOST PORT USER KEYFILE SESSIONS DELAY_MS KNOWN_HOSTS")
    exit(2)
}
let options = SSHConnectionOptions(
    host: arguments[1], port: port, user: arguments[3], authMethods: [.privateKeyFile(path: arguments[4])],
    hostKeyPolicy: SSHHostKeyPolicy(userKnownHostsFiles: [arguments[7]], globalKnownHostsFiles: []))
let engines: [any SSHBackend] = [LibSSH2Backend(), LibSSHBackend()]

// Every session streams output without end; half of them are read, half are left to backpressure.
var channels: [any SSHChannel] = []
for index in 0..<sessions {
    let session = try await engines[index % engines.count].connect(options)
    channels.append(try await session.exec("cat /dev/zero"))
}
for (index, channel) in channels.enumerated() where index % 2 == 0 {
    Task { for try await _ in channel.stdout {} }
}
try await Task.sleep(for: .milliseconds(delay))
// A quarter of the sessions are let go just now: their connections close on the loops while the process exits.
channels = channels.enumerated().filter { $0.offset % 4 != 1 }.map(\.element)
print("exiting with \(channels.count) channels streaming")
exit(0)
