import Foundation

/// A new empty directory under the temporary directory, named `pssh-<purpose>-<uuid>`, that both the test
/// process and the test account may write (the servers are this machine, so "remote" paths are local paths
/// too). The caller removes it.
public func scratchDirectory(_ purpose: String) throws -> String {
    let path = NSTemporaryDirectory() + "pssh-\(purpose)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    chmod(path, 0o777)
    return path
}
