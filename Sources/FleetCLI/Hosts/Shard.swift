/// A deterministic part of a host list for one of several machines: shard `index` of `count` (1-based, as
/// `--shard 2/4` writes it) holds the names whose stable hash falls there, so the same name always lands in the
/// same shard, whatever the order or the other names of the list.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// This shard, 1...count.
    public let index: Int
    /// How many shards there are.
    public let count: Int

    /// Reads `k/n` with 1 <= k <= n.
    public init(_ text: String) throws(HostList.Error) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
            (1...count).contains(index)
        else {
            throw HostList.Error("--shard '\(text)': expected k/n with 1 <= k <= n, e.g. 2/4")
        }
        self.init(index: index, count: count)
    }

    /// Shard `index` (1-based) of `count`.
    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// The shard a job scheduler gives this task: Slurm's job array (`SLURM_ARRAY_TASK_ID`, counted from
    /// `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`), or a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`,
    /// from 0, of `count`, which the job must give, e.g. from its `completions`).
    public static func fromEnvironment(_ environment: [String: String], count: Int?) throws(HostList.Error) -> Shard {
        if let id = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init) {
            let minimum = environment["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0
            guard let total = count ?? environment["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init), total >= 1,
                (0..<total).contains(id - minimum)
            else {
                throw HostList.Error(
                    "SLURM_ARRAY_TASK_ID \(id) is outside the array (SLURM_ARRAY_TASK_MIN \(minimum), "
                        + "SLURM_ARRAY_TASK_COUNT \(environment["SLURM_ARRAY_TASK_COUNT"] ?? "unset"))")
            }
            return Shard(index: id - minimum + 1, count: total)
        }
        if let index = environment["JOB_COMPLETION_INDEX"].flatMap(Int.init) {
            guard let count, count >= 1, (0..<count).contains(index) else {
                throw HostList.Error(
                    "JOB_COMPLETION_INDEX \(index) needs --shard-count (the job's completions) above it")
            }
            return Shard(index: index + 1, count: count)
        }
        throw HostList.Error("--shard env: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set")
    }

    /// Whether `name` belongs to this shard (FNV-1a of its UTF-8 bytes, modulo the count).
    public func contains(_ name: String) -> Bool {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(count)) == index - 1
    }

    public var description: String { "\(index)/\(count)" }
}
