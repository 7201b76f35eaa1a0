import Foundation
import SSHBackend

/// The one way a local path is built from a host name (fetched copies, `--outdir` files, per-host suffixes): the
/// host becomes a single path component that cannot leave its directory, whatever the name (an alias `..`, a
/// host `evil/../../x`).
package enum HostFileName {
    /// `host` as one file name: `/` and NUL become `_`; `.`, `..` and the empty name get a leading `_`; control
    /// characters are escaped (`\ooo`), so the name prints safely too.
    package static func component(_ host: String) -> String {
        var name = String(host.unicodeScalars.map { $0 == "/" || $0 == "\0" ? "_" : Character($0) })
        name = TerminalText.sanitized(name, keepingLineBreaks: false).replacingOccurrences(of: "/", with: "_")
        if name.isEmpty || name == "." || name == ".." { name = "_" + name }
        return name
    }

    /// `directory/<component(host)>`: always directly inside `directory`.
    package static func path(in directory: String, host: String) -> String {
        (directory.hasSuffix("/") ? directory : directory + "/") + component(host)
    }
}
