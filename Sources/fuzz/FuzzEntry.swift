// One libFuzzer binary for every target in FuzzTargets, chosen by FUZZ_TARGET (see fuzz/run). Built without
// -DFUZZING (as `swift build` does) it replays files instead: `fuzz <target> <file>...`, to reproduce a crash.
import FuzzTargets

#if FUZZING
    import Foundation

    /// The target this process fuzzes.
    let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()

    /// libFuzzer's entry point.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }
#else
    import Foundation

    /// Replays inputs through a target.
    @main
    enum Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
                FileHandle.standardError.write(Data("usage: fuzz \(names) FILE...\n".utf8))
                exit(64)
            }
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("fuzz: cannot read \(path)\n".utf8))
                    exit(66)
                }
                target.run([UInt8](data))
                print("\(path): ok")
            }
        }
    }
#endif
