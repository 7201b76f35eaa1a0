import Synchronization

/// How far ahead of our reads a download (or a jump tunnel) may let the server run: its channel's receive window
/// and, for SFTP, the depth of its READ pipeline. One budget per process is shared by every download in flight; each gets what the
/// budget has left, between a floor (OpenSSH's own 2 MiB window) and a ceiling, and holds it until it ends. A few
/// downloads fill long round trips; ten thousand hold the floor each, so what the library may buffer for unread data
/// stays bounded by the host count times the floor plus the budget.
package final class ReceiveWindowBudget: Sendable {
    /// The process's budget: 256 MiB beyond the floors.
    package static let shared = ReceiveWindowBudget(total: 256 << 20)

    /// The least window a download gets, whatever the budget holds.
    package static let floor = 2 << 20
    /// The most window one download gets: 16 MiB, about 160 MB/s at a 100 ms round trip, and OpenSSH's ceiling on
    /// what sshd buffers for a channel (`CHAN_INPUT_MAX`). A larger window stalls sshd: at 32 MiB a loopback SCP
    /// download on the libssh2 engine took 2.2 to 3.1 s instead of 0.8 s, as parallel-ssh's (whose SCP window
    /// grows to the whole file) takes 5.5 s.
    package static let ceiling = 16 << 20

    private let total: Int
    private let held = Mutex(0)

    /// A budget of `total` bytes shared by the windows it hands out.
    package init(total: Int) {
        self.total = total
    }

    /// Bytes held by the windows now in use.
    package var inUse: Int { held.withLock { $0 } }

    /// A window for one download: what is left of the budget, clamped to the floor and the ceiling; returned when
    /// the reservation is released.
    package func reserve() -> ReceiveWindowReservation {
        let bytes = held.withLock { held -> Int in
            let bytes = min(Self.ceiling, max(Self.floor, total - held))
            held += bytes
            return bytes
        }
        return ReceiveWindowReservation(bytes: bytes, budget: self)
    }

    fileprivate func release(_ bytes: Int) {
        held.withLock { $0 -= bytes }
    }
}

/// One download's share of a ``ReceiveWindowBudget``, given back when the last reference goes.
package final class ReceiveWindowReservation: Sendable {
    /// The window, in bytes.
    package let bytes: Int
    private let budget: ReceiveWindowBudget

    fileprivate init(bytes: Int, budget: ReceiveWindowBudget) {
        self.bytes = bytes
        self.budget = budget
    }

    deinit { budget.release(bytes) }
}
