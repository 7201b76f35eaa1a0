import Foundation
import Testing

/// The documentation's Swift examples must be the ones the `readme-examples` target compiles.
@Suite("Documentation examples")
struct ReadmeExamplesTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(
        "every Swift example of README.md and the getting-started article is compiled, verbatim, by readme-examples",
        arguments: ["README.md", "Sources/ParallelFrontend/ParallelFrontend.docc/GettingStarted.md"])
    func examplesAreCompiled(document: String) throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent(document), encoding: .utf8)
        let compiled = try String(
            contentsOf: Self.root.appendingPathComponent("Tests/ReadmeExamples/main.swift"),
            encoding: .utf8)
        let blocks = text.components(separatedBy: "```swift\n").dropFirst().compactMap {
            $0.components(separatedBy: "```").first
        }
        #expect(!blocks.isEmpty)
        for block in blocks {
            // Each example sits in a function of its own there, indented by four spaces, its imports at the top.
            let body = block.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("import ") }
                .drop { $0.trimmingCharacters(in: .whitespaces).isEmpty }
                .map { $0.isEmpty ? "" : "    " + $0 }
                .joined(separator: "\n")
                .trimmingCharacters(in: .newlines)
            #expect(
                compiled.contains(body),
                "\(document): this example is not compiled (run scripts/update-readme-examples):\n\(body)")
        }
        let imports = Set(
            blocks.flatMap { $0.split(separator: "\n").filter { $0.hasPrefix("import ") } }
                .map { $0.split(separator: " ")[1] })
        for module in imports
        where !["SSHBackend", "BackendLibSSH2", "BackendLibSSH", "ParallelFrontend"].contains(module) {
            #expect(compiled.contains("import \(module)"), "\(document) imports \(module)")
        }
    }
}
