import Foundation
import SSHBackend

#if canImport(Glibc)
    import Glibc
#endif

/// The soak run (bench/soak drives it): `commands` commands one after another on one session, then `cycles`
/// connect, command, disconnect cycles, each on the given engine, with the resident memory and the open file
/// descriptors sampled after a warm-up (the baseline), half-way and at the end of each phase. Prints one JSON line.
func soakWorkload(backend: any SSHBackend, options: SSHConnectionOptions, commands: Int, cycles: Int) async throws {
    func command(_ session: any SSHSession, _ index: Int) async throws {
        let channel = try await session.exec("echo \(index)")
        let output = try await channel.stdout.collect()
        guard try await channel.exitStatus().code == 0, output == Array("\(index)\n".utf8) else {
            throw SSHError(.protocolError, message: "command \(index) gave \(output.count) bytes")
        }
    }
    var samples: [[String: Int]] = []
    func sample(_ phase: String, _ done: Int) {
        samples.append(["rss_kb": residentKilobytes(), "fds": openDescriptors(), "done": done])
        FileHandle.standardError.write(
            Data("\(phase) \(done): rss \(residentKilobytes()) kB, fds \(openDescriptors())\n".utf8))
    }
    // Warm-up: the loop thread, the library's one-time set-up and the allocator's first arenas are not leaks.
    for _ in 0..<2 {
        let session = try await backend.connect(options)
        for index in 0..<20 { try await command(session, index) }
        await session.close()
    }
    let session = try await backend.connect(options)
    sample("commands", 0)
    for index in 1...commands {
        try await command(session, index)
        if index == commands / 2 { sample("commands", index) }
    }
    sample("commands", commands)
    await session.close()
    sample("cycles", 0)
    for index in 1...cycles {
        let session = try await backend.connect(options)
        try await command(session, index)
        await session.close()
        if index == cycles / 2 { sample("cycles", index) }
    }
    sample("cycles", cycles)
    let json = try JSONSerialization.data(withJSONObject: [
        "engine": backend.name, "commands": commands,
        "cycles": cycles, "samples": samples,
    ])
    print(String(decoding: json, as: UTF8.self))
}

/// The process's resident set now, in kB (`/proc/self/statm`).
func residentKilobytes() -> Int {
    let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
    let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

/// The open file descriptors now (`/proc/self/fd`, less the one listing it).
func openDescriptors() -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 1) - 1
}
