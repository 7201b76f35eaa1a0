import CLibSSH
import Dispatch
import SSHBackend
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Private keys parsed and decrypted once per process: keyed by the key's bytes and passphrase, the decrypted key is
/// kept and every session gets a copy (`ssh_key_dup`), so a passphrase-protected key costs one key derivation
/// (OpenSSH's bcrypt KDF: about 0.1 s of CPU) instead of one per host. A key that cannot be read with a passphrase
/// is remembered too, so a wrong passphrase costs one derivation, whatever the number of hosts.
enum LibSSHKeyCache {
    private struct Identity: Hashable {
        let contents: [UInt8]
        let passphrase: String?
    }

    /// One parse: the decrypted key, or libssh's code for why not. Never changed after it is made, and libssh only
    /// reads it (to copy it), so sessions on any loop thread may share it; freed when the last holder lets go.
    private final class Parsed: @unchecked Sendable {
        let key: OpaquePointer?
        let code: Int32

        init(key: OpaquePointer?, code: Int32) {
            self.key = key
            self.code = code
        }

        deinit { if let key { ssh_key_free(key) } }

        /// A copy for one session (the caller frees it), or the failure.
        func copy() -> Result<OpaquePointer, LibSSHKeyFailure> {
            guard let key else { return .failure(LibSSHKeyFailure(code: code)) }
            guard let duplicate = ssh_key_dup(key) else { return .failure(LibSSHKeyFailure(code: SSH_ERROR)) }
            return .success(duplicate)
        }
    }

    /// Keys a process holds at once; beyond it the oldest is dropped.
    private static let capacity = 64
    private static let entries = Mutex<(map: [Identity: Parsed], order: [Identity], parses: [Identity: Int])>(([:], [], [:]))

    /// How many times this key (as text, with this passphrase) was parsed while the cache held it: once, where
    /// every session used to parse it again.
    static func parseCount(contents: [UInt8], passphrase: String?) -> Int {
        entries.withLock { $0.parses[Identity(contents: contents, passphrase: passphrase)] ?? 0 }
    }

    /// A key for one session from a key file's or text's `contents`: a copy the caller frees, or libssh's code for
    /// the failure (`SSH_ERROR` for a wrong passphrase or an unreadable format). Parses on a miss (``prepare(_:)``
    /// normally did it already, off the loop).
    static func key(contents: [UInt8], passphrase: String?) -> Result<OpaquePointer, LibSSHKeyFailure> {
        let identity = Identity(contents: contents, passphrase: passphrase)
        if let known = entries.withLock({ $0.map[identity] }) { return known.copy() }
        return parse(identity).copy()
    }

    /// Parses (and decrypts) a key and keeps the result; the first result kept wins a race.
    private static func parse(_ identity: Identity) -> Parsed {
        var parsed: OpaquePointer?
        // An absent passphrase is passed as "" so libssh never falls back to prompting on a terminal.
        let rc = (identity.contents + [0]).withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                ssh_pki_import_privkey_base64($0.baseAddress, identity.passphrase ?? "", nil, nil, &parsed)
            }
        }
        let made = rc == SSH_OK ? Parsed(key: parsed, code: SSH_OK) : Parsed(key: nil, code: rc)
        if rc != SSH_OK, let parsed { ssh_key_free(parsed) }
        return entries.withLock { state -> Parsed in
            state.parses[identity, default: 0] += 1
            if let existing = state.map[identity] { return existing }
            if state.order.count >= capacity {
                let oldest = state.order.removeFirst()
                state.map[oldest] = nil
                state.parses[oldest] = nil
            }
            state.map[identity] = made
            state.order.append(identity)
            return made
        }
    }

    /// Where a key comes from, for parses in flight.
    private enum Source: Hashable, Sendable {
        case file(String)
        case text([UInt8])
    }

    /// Parses every key the connection (and its jump hosts) will offer, on a thread of its own rather than a loop
    /// or the cooperative pool, once however many connections ask for the same key at the same moment; the
    /// authentication step then only copies it.
    static func prepare(_ options: SSHConnectionOptions) async {
        var sources: [(Source, String?)] = []
        for hop in [options] + options.jumpHosts {
            for method in hop.authMethods {
                switch method {
                case .privateKeyFile(let path, let passphrase): sources.append((.file(path), passphrase))
                case .certificate(let path, _, let passphrase): sources.append((.file(path), passphrase))
                case .privateKey(let data, let passphrase): sources.append((.text(data.bytes), passphrase))
                case .identityFiles(let paths, let passphrase): sources += paths.map { (.file($0), passphrase) }
                default: break
                }
            }
        }
        for (source, passphrase) in sources { await prepare(source, passphrase: passphrase) }
    }

    private static func prepare(_ source: Source, passphrase: String?) async {
        if case .text(let bytes) = source,
           entries.withLock({ $0.map[Identity(contents: bytes, passphrase: passphrase)] != nil }) { return }
        let flight = FlightKey(source: source, passphrase: passphrase)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let first = flights.withLock { waiting -> Bool in
                if waiting[flight] != nil {
                    waiting[flight]?.append(continuation)
                    return false
                }
                waiting[flight] = [continuation]
                return true
            }
            guard first else { return }
            DispatchQueue.global(qos: .userInitiated).async {
                let contents: [UInt8]? = switch source {
                case .file(let path): Self.contents(ofFile: path)  // unreadable: the auth step reports why
                case .text(let bytes): bytes
                }
                if let contents {
                    let identity = Identity(contents: contents, passphrase: passphrase)
                    if entries.withLock({ $0.map[identity] == nil }) { _ = parse(identity) }
                }
                for waiter in flights.withLock({ $0.removeValue(forKey: flight) ?? [] }) { waiter.resume() }
            }
        }
    }

    private struct FlightKey: Hashable, Sendable {
        let source: Source
        let passphrase: String?
    }

    private static let flights = Mutex<[FlightKey: [CheckedContinuation<Void, Never>]]>([:])

    /// The bytes of a key file, or `nil` with `errno` saying why not.
    static func contents(ofFile path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            if bytes.count > 1 << 20 {
                errno = EFBIG
                return nil
            }
        }
    }
}

/// Why a key could not be parsed: libssh's code.
struct LibSSHKeyFailure: Error {
    let code: Int32
}
