import SSHBackend
import SSHEventLoop
import SSHKnownHosts
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Private keys parsed and decrypted once per process, whatever the number of sessions: keyed by the key's bytes
/// and passphrase, an engine's parse of it (a native key to copy, or decrypted text) is kept, so a
/// passphrase-protected key costs one key derivation (OpenSSH's bcrypt KDF: about 0.1 s of CPU) instead of one per
/// host. A key that cannot be read with a passphrase is remembered too, so a wrong passphrase costs one derivation.
///
/// ``prepare(contents:passphrase:)`` parses the keys a connection will offer before it starts (``AuthAttempt``'s
/// plan read them, default identities included), off the loops and the cooperative pool: a parse gets a thread of
/// its own, once per key however many connections ask for it at the same moment; the authentication step then only
/// looks the result up (``value(contents:passphrase:)``).
package final class PrivateKeyCache<Parsed: Sendable>: Sendable {
    /// A key and its passphrase, as the cache tells them apart: the passphrase only as a salted SHA-256 digest,
    /// so the cache (which lives as long as the process) never holds a passphrase.
    private struct Identity: Hashable {
        let contents: [UInt8]
        let passphrase: PassphraseDigest?

        init(contents: [UInt8], passphrase: String?) {
            self.contents = contents
            self.passphrase = passphrase.map(PassphraseDigest.init)
        }
    }

    private struct FlightKey: Hashable, Sendable {
        let contents: [UInt8]
        let passphrase: PassphraseDigest?
    }

    private struct State {
        var map: [Identity: Parsed] = [:]
        var order: [Identity] = []
        var parses: [Identity: Int] = [:]
    }

    private let capacity: Int
    private let parse: @Sendable ([UInt8], String?) -> Parsed
    private let state = Mutex(State())
    private let flights = Mutex<[FlightKey: [CheckedContinuation<Void, Never>]]>([:])

    /// A cache of at most `capacity` keys (beyond it the oldest is dropped), parsing with `parse` (the key's bytes
    /// and passphrase in, the engine's result out).
    package init(capacity: Int = 64, parse: @escaping @Sendable (_ contents: [UInt8], _ passphrase: String?) -> Parsed)
    {
        self.capacity = capacity
        self.parse = parse
    }

    /// How many times this key (as text, with this passphrase) was parsed while the cache held it: once, where
    /// every session used to parse it again.
    package func parseCount(contents: [UInt8], passphrase: String?) -> Int {
        state.withLock { $0.parses[Identity(contents: contents, passphrase: passphrase)] ?? 0 }
    }

    /// The parse of a key file's or text's `contents` with `passphrase`; parses on a miss (``prepare(_:)`` normally
    /// did it already, off the loop).
    package func value(contents: [UInt8], passphrase: String?) -> Parsed {
        let identity = Identity(contents: contents, passphrase: passphrase)
        if let known = state.withLock({ $0.map[identity] }) { return known }
        return store(identity, passphrase: passphrase)
    }

    /// Parses a key and keeps the result; the first result kept wins a race.
    private func store(_ identity: Identity, passphrase: String?) -> Parsed {
        let made = parse(identity.contents, passphrase)
        return state.withLock { state -> Parsed in
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

    /// Parses a key's `contents` with `passphrase` before a connection that offers it starts, off the loops and the
    /// cooperative pool, once per key however many connections ask at the same moment.
    package func prepare(contents: [UInt8], passphrase: String?) async {
        let identity = Identity(contents: contents, passphrase: passphrase)
        if state.withLock({ $0.map[identity] != nil }) { return }
        let flight = FlightKey(contents: contents, passphrase: passphrase.map(PassphraseDigest.init))
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
            // A parse (perhaps a key derivation) gets a thread of its own, once per key, so it never holds up the
            // file pool's other work, such as another connection reading its key.
            let parse: @Sendable () -> Void = {
                if self.state.withLock({ $0.map[identity] == nil }) { _ = self.store(identity, passphrase: passphrase) }
                for waiter in self.flights.withLock({ $0.removeValue(forKey: flight) ?? [] }) { waiter.resume() }
            }
            if !runOnDetachedThread(parse) { BlockingPool.files.submit(parse) }
        }
    }
}

/// A passphrase as caches compare it: SHA-256 over a random salt of this process and the passphrase.
struct PassphraseDigest: Hashable, Sendable {
    private static let salt: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
    private let digest: [UInt8]

    init(_ passphrase: String) {
        digest = SHA256.hash(Self.salt + Array(passphrase.utf8))
    }
}

/// Reading a private key file.
package enum PrivateKeyFile {
    /// The bytes of a key file (at most 1 MiB), or `nil` with `errno` saying why not.
    package static func contents(ofFile path: String) -> [UInt8]? {
        LoopWatchdog.blockingCall("reading \(path)")
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
