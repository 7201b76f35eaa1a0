import BackendLibSSH
import BackendLibSSH2
import Foundation
import SSHBackend
import Testing

/// `docs/feature-matrix.md` must say exactly what the engines declare in code.
@Suite("Feature matrix")
struct FeatureMatrixTests {
    /// The matrix's rows: capability name → cells after the name column.
    private static func rows() throws -> [String: [String]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/feature-matrix.md"), encoding: .utf8)
        var rows: [String: [String]] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = Array(cells.dropFirst())
        }
        return rows
    }

    @Test("every capability has a row, and no row names an unknown capability")
    func rowsMatchCapabilities() throws {
        let rows = try Self.rows()
        #expect(Set(rows.keys) == Set(SSHCapability.all.map(\.name)))
    }

    @Test("each row's summary is the capability's summary")
    func summaries() throws {
        let rows = try Self.rows()
        for capability in SSHCapability.all {
            #expect(rows[capability.name]?.first == capability.summary, "\(capability.name)")
        }
    }

    @Test(
        "the engine columns are the engines' declared capabilities",
        arguments: [
            (1, LibSSH2Backend.declaredCapabilities, "libssh2"), (2, LibSSHBackend.declaredCapabilities, "libssh"),
        ])
    func engineColumns(column: Int, declared: Set<SSHCapability>, engine: String) throws {
        let rows = try Self.rows()
        for capability in SSHCapability.all {
            let cell = rows[capability.name]?[column]
            #expect(
                cell == (declared.contains(capability) ? "yes" : "no"),
                "\(engine) column says \(cell ?? "nothing") for \(capability.name)")
        }
    }

    @Test("each engine's capabilities are what its instances report")
    func instancesReportDeclared() {
        #expect(LibSSH2Backend().capabilities == LibSSH2Backend.declaredCapabilities)
        #expect(LibSSHBackend().capabilities == LibSSHBackend.declaredCapabilities)
    }
}
