import ArgumentParser
import FleetCLI
import Foundation

extension Fleetsh {
    /// `fleetsh merge`: the JSON lines of several runs (shards) as one report.
    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge the --json outputs of several runs (shards) into one report, with the run's exit code.",
            discussion: """
                Plain 'host: text' lines, as pdsh, clush and fleetsh print them, are read too and grouped as dshbak -c \
                groups them: pdsh -w 'web[1-9]' uptime | fleetsh merge -. Such lines carry no exit status, so their \
                hosts count as succeeded.
                """)

        @Flag(
            name: [.customShort("b"), .customLong("group")], help: "Group hosts with identical output (the default).")
        var group = false

        @Flag(help: "Write the merged JSON lines instead.")
        var json = false

        @Option(help: "Write the hosts that did not succeed to this file, as a node set.")
        var failedHosts: String?

        @Argument(help: "JSON-lines files written by fleetsh --json (- for stdin).")
        var files: [String]

        func run() async throws {
            var reports: [HostReport] = []
            var position: [String: Int] = [:]
            var plain = Set<String>()  // hosts whose report gathers plain lines
            for file in files {
                let text: String
                if file == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    guard let data = FileManager.default.contents(atPath: file) else { usage("cannot read \(file)") }
                    text = String(decoding: data, as: UTF8.self)
                }
                for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
                    var report: HostReport
                    if line.first == "{" {
                        do { report = try HostReport.fromJSONLine(String(line)) } catch {
                            usage("\(file) line \(number + 1) is not a fleetsh JSON line")
                        }
                        plain.remove(report.host)
                    } else if let separator = line.range(of: ": ") ?? (line.hasSuffix(":") ? line.range(of: ":") : nil),
                        !line[..<separator.lowerBound].isEmpty
                    {
                        // dshbak's input: a line of one host's output; the host's lines gather in its report.
                        let host = String(line[..<separator.lowerBound])
                        if let at = position[host], plain.contains(host) {
                            reports[at].stdout += line[separator.upperBound...] + "\n"
                            continue
                        }
                        report = HostReport(
                            host: host, exitStatus: 0, signal: nil, stdout: line[separator.upperBound...] + "\n",
                            stderr: "", error: nil, started: "", duration: 0)
                        plain.insert(host)
                    } else {
                        usage("\(file) line \(number + 1) is neither a fleetsh JSON line nor 'host: text'")
                    }
                    // A host in several files (a rerun) counts once: the last one read.
                    if let at = position[report.host] {
                        reports[at] = report
                    } else {
                        position[report.host] = reports.count
                        reports.append(report)
                    }
                }
            }
            let terminal = Terminal()
            let mode: any OutputMode =
                json
                ? JSONLinesOutput(terminal: terminal)
                : GroupedOutput(
                    terminal: terminal,
                    hosts: reports.map(\.host).sorted { $0.localizedStandardCompare($1) == .orderedAscending })
            for report in reports { mode.hostFinished(report) }
            mode.finish(reports)
            writeFailedHosts(reports, to: failedHosts)
            exitWith(contractExitCode(for: reports))
        }
    }
}
