import Foundation
import FuzzTargets
import Testing

/// The fuzz targets' committed inputs, replayed in the ordinary build: the seed corpora (`fuzz/corpus/<target>`)
/// and every input that once crashed a target (`fuzz/regressions/<target>`), so a fixed crash stays fixed.
@Suite("Fuzz corpora and regressions")
struct FuzzReplayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fuzz")

    static func inputs(_ folder: String, _ target: FuzzTarget) -> [String] {
        let directory = root.appendingPathComponent(folder).appendingPathComponent(target.rawValue).path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().map { directory + "/" + $0 }
    }

    @Test("every target has seeds, and each seed and regression input runs through it", arguments: FuzzTarget.allCases)
    func replay(target: FuzzTarget) throws {
        let seeds = Self.inputs("corpus", target)
        #expect(seeds.count >= 3, "fuzz/corpus/\(target.rawValue) holds \(seeds.count) seeds")
        for path in seeds + Self.inputs("regressions", target) {
            let data = try #require(FileManager.default.contents(atPath: path), "\(path)")
            target.run([UInt8](data))
        }
    }
}
