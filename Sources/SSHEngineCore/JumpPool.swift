import SSHBackend
import Synchronization

/// Jump-host connections shared by every target behind them: a target's tunnel leases a connection to its hop,
/// keyed by the hop's identity (engine, user, host, port and its own hops), made once however many targets ask
/// at the same time, and closed when the last tunnel through it ends. A connection carries at most
/// ``tunnelsPerConnection`` tunnels; past that another one is opened.
package final class JumpPool: Sendable {
    /// The pool every connection uses.
    package static let shared = JumpPool()

    /// The most tunnels one jump connection carries before another is opened.
    package static let tunnelsPerConnection = 256

    private final class Entry: Sendable {
        let attempt: Task<any SSHSession, any Error>
        let tunnels = Mutex(0)

        init(_ connect: @escaping @Sendable () async throws -> any SSHSession) {
            attempt = Task { try await connect() }
        }
    }

    private let entries = Mutex<[String: [Entry]]>([:])

    /// A connection to the hop `key` names (made with `connect` when none has room), the call that gives the
    /// lease back, and the one that takes a dead connection out of the pool (its leases are still given back).
    package func lease(_ key: String, connect: @escaping @Sendable () async throws -> any SSHSession) async throws
        -> (session: any SSHSession, release: @Sendable () async -> Void, invalidate: @Sendable () -> Void)
    {
        let entry = entries.withLock { entries -> Entry in
            if let open = entries[key]?.first(where: { entry in
                entry.tunnels.withLock { count in
                    guard count < Self.tunnelsPerConnection else { return false }
                    count += 1
                    return true
                }
            }) {
                return open
            }
            let created = Entry(connect)
            created.tunnels.withLock { $0 = 1 }
            entries[key, default: []].append(created)
            return created
        }
        let session: any SSHSession
        do {
            session = try await entry.attempt.value
        } catch {
            // A failed connection is not reused; the next lease tries again.
            forget(entry, key: key)
            throw error
        }
        let release: @Sendable () async -> Void = { [self] in
            let last = entry.tunnels.withLock { count -> Bool in
                count -= 1
                return count == 0
            }
            guard last else { return }
            forget(entry, key: key)
            await session.close()
        }
        return (session, release, { [self] in forget(entry, key: key) })
    }

    /// Drops `entry` (failed, or no tunnel left) so that the next lease makes a new connection.
    private func forget(_ entry: Entry, key: String) {
        entries.withLock { entries in
            entries[key]?.removeAll { $0 === entry }
            if entries[key]?.isEmpty == true { entries[key] = nil }
        }
    }
}
