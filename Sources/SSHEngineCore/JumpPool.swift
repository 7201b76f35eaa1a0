import SSHBackend
import Synchronization

/// Jump-host connections shared by every target behind them: a target's tunnel leases a connection to its hop,
/// keyed by everything that decides whether it may serve a target (``JumpPoolKey``), made once however many targets ask
/// at the same time, and closed when the last tunnel through it ends.
///
/// Two caps per connection: at most ``tunnelsPerConnection`` tunnels, and at most ``handshakesPerConnection``
/// targets in their handshake at once (from the tunnel's open until the target is authenticated); other targets
/// queue for a handshake slot. Another connection to the hop opens when every one is full or has a queue as long
/// as its cap, up to ``connectionsPerHop``.
package final class JumpPool: Sendable {
    /// The pool every connection uses.
    package static let shared = JumpPool()

    /// The most tunnels one jump connection carries before another is opened.
    package static let tunnelsPerConnection = 256
    /// The most targets in their handshake at once through one jump connection.
    package static let handshakesPerConnection = 32
    /// The most connections to one hop that a long handshake queue opens (full connections always open another).
    package static let connectionsPerHop = 8

    /// A connection granted to a lease: which one, and its (shared) attempt.
    private struct Grant: Sendable {
        let id: Int
        let attempt: Task<any SSHSession, any Error>
    }

    private struct Waiter {
        let ticket: Int
        let continuation: CheckedContinuation<Grant, Never>
    }

    private struct Connection {
        let grant: Grant
        var tunnels = 1
        var handshaking = 1
        var queue: [Waiter] = []

        var hasRoom: Bool { tunnels < JumpPool.tunnelsPerConnection }
        var hasHandshakeSlot: Bool { handshaking < JumpPool.handshakesPerConnection }
    }

    private struct State {
        var nextID = 0
        var hops: [String: [Connection]] = [:]

        mutating func makeID() -> Int {
            nextID += 1
            return nextID
        }
    }

    private let state = Mutex(State())

    /// A connection to the hop `key` names (made with `connect` when none has room or the queues are long), once
    /// a handshake slot on it is free.
    /// - Throws: the hop's connection error, or `CancellationError` when cancelled while queued.
    package func lease(_ key: String, connect: @escaping @Sendable () async throws -> any SSHSession) async throws
        -> JumpLease
    {
        let ticket = state.withLock { $0.makeID() }
        let grant: Grant = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Grant, Never>) in
                let immediate = state.withLock { state -> Grant? in
                    var connections = state.hops[key] ?? []
                    defer { state.hops[key] = connections }
                    if let index = connections.firstIndex(where: { $0.hasRoom && $0.hasHandshakeSlot }) {
                        connections[index].tunnels += 1
                        connections[index].handshaking += 1
                        return connections[index].grant
                    }
                    let roomy = connections.indices.filter { connections[$0].hasRoom }
                    let shortest = roomy.min { connections[$0].queue.count < connections[$1].queue.count }
                    let queueIsLong =
                        shortest.map { connections[$0].queue.count >= Self.handshakesPerConnection } ?? true
                    guard let index = shortest, !queueIsLong || connections.count >= Self.connectionsPerHop else {
                        let created = Connection(
                            grant: Grant(id: state.makeID(), attempt: Task { try await connect() }))
                        connections.append(created)
                        return created.grant
                    }
                    connections[index].tunnels += 1
                    connections[index].queue.append(Waiter(ticket: ticket, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            // Leave the queue now (holding a tunnel, no handshake slot); the lease is given back below.
            let left = state.withLock { state -> (Waiter, Grant)? in
                for (key, connections) in state.hops {
                    for index in connections.indices {
                        if let at = connections[index].queue.firstIndex(where: { $0.ticket == ticket }) {
                            state.hops[key]?[index].handshaking += 1  // released with the lease
                            guard let waiter = state.hops[key]?[index].queue.remove(at: at) else { return nil }
                            return (waiter, connections[index].grant)
                        }
                    }
                }
                return nil
            }
            if let (waiter, grant) = left { waiter.continuation.resume(returning: grant) }
        }
        let lease = JumpLease(pool: self, key: key, id: grant.id)
        if Task.isCancelled {
            await lease.release()
            throw CancellationError()
        }
        do {
            let session = try await grant.attempt.value
            lease.session.withLock { $0 = session }
        } catch {
            // A failed connection is not reused; the next lease tries again.
            lease.invalidate()
            await lease.release()
            throw error
        }
        return lease
    }

    /// Gives back the handshake slot of connection `id`, letting the next queued target through.
    fileprivate func endHandshake(_ key: String, id: Int) {
        let next = state.withLock { state -> (Waiter, Grant)? in
            guard let index = state.hops[key]?.firstIndex(where: { $0.grant.id == id }) else { return nil }
            state.hops[key]?[index].handshaking -= 1
            guard state.hops[key]?[index].queue.isEmpty == false else { return nil }
            state.hops[key]?[index].handshaking += 1
            guard let waiter = state.hops[key]?[index].queue.removeFirst(), let grant = state.hops[key]?[index].grant
            else {
                return nil
            }
            return (waiter, grant)
        }
        if let (waiter, grant) = next { waiter.continuation.resume(returning: grant) }
    }

    /// Gives back a tunnel of connection `id`; the session to close when it was the last.
    fileprivate func endTunnel(_ key: String, id: Int) -> Task<any SSHSession, any Error>? {
        state.withLock { state in
            guard let index = state.hops[key]?.firstIndex(where: { $0.grant.id == id }) else { return nil }
            state.hops[key]?[index].tunnels -= 1
            guard state.hops[key]?[index].tunnels == 0 else { return nil }
            return forget(&state, key: key, index: index)
        }
    }

    /// Drops connection `id` (failed or dead) so that the next lease makes a new one; its queued targets go on
    /// (and find it dead or failed); returns its attempt, to close.
    fileprivate func invalidate(_ key: String, id: Int) -> Task<any SSHSession, any Error>? {
        state.withLock { state in
            guard let index = state.hops[key]?.firstIndex(where: { $0.grant.id == id }) else { return nil }
            return forget(&state, key: key, index: index)
        }
    }

    private func forget(_ state: inout State, key: String, index: Int) -> Task<any SSHSession, any Error>? {
        guard let removed = state.hops[key]?.remove(at: index) else { return nil }
        if state.hops[key]?.isEmpty == true { state.hops[key] = nil }
        for waiter in removed.queue { waiter.continuation.resume(returning: removed.grant) }
        return removed.grant.attempt
    }
}

/// A tunnel's hold on a shared jump connection: the session, a handshake slot (given back by
/// ``endHandshake()``, once), and the tunnel itself (given back by ``release()``, which closes the connection
/// after its last tunnel).
package final class JumpLease: Sendable {
    private let pool: JumpPool
    private let key: String
    private let id: Int
    fileprivate let session = Mutex<(any SSHSession)?>(nil)
    private let ended = Mutex((handshake: false, tunnel: false))

    fileprivate init(pool: JumpPool, key: String, id: Int) {
        self.pool = pool
        self.key = key
        self.id = id
    }

    /// The jump connection (set once the lease is granted).
    package var connection: any SSHSession {
        get throws(SSHError) {
            guard let session = session.withLock({ $0 }) else {
                throw SSHError(.sessionClosed, message: "the jump connection is not established")
            }
            return session
        }
    }

    /// The target's handshake is over (authenticated or failed): the next queued target may start its own.
    package func endHandshake() {
        guard
            ended.withLock({ ended in
                defer { ended.handshake = true }
                return !ended.handshake
            })
        else { return }
        pool.endHandshake(key, id: id)
    }

    /// The tunnel is over (its handshake too); closes the jump connection if it was the last tunnel.
    package func release() async {
        endHandshake()
        guard
            ended.withLock({ ended in
                defer { ended.tunnel = true }
                return !ended.tunnel
            })
        else { return }
        if let attempt = pool.endTunnel(key, id: id), let session = try? await attempt.value { await session.close() }
    }

    /// The jump connection is dead or failed: the next lease makes a new one. Tunnels through it are still given back.
    package func invalidate() {
        guard let attempt = pool.invalidate(key, id: id) else { return }
        Task { if let session = try? await attempt.value { await session.close() } }
    }
}
