/// A binary min-heap of (deadline, id), the event loop's timer queue.
struct TimerHeap {
    struct Entry {
        var deadline: UInt64
        var id: UInt64
    }

    private var entries: [Entry] = []

    func peek() -> Entry? { entries.first }

    mutating func push(deadline: UInt64, id: UInt64) {
        entries.append(Entry(deadline: deadline, id: id))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if entries[parent].deadline <= entries[child].deadline { break }
            entries.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !entries.isEmpty else { return nil }
        let top = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown(from: 0)
        }
        return top
    }

    /// Entries held, cancelled ones included until they are popped or compacted away.
    var count: Int { entries.count }

    /// Drops the entries whose id `isLive` rejects and rebuilds the heap in linear time, in a buffer sized to what
    /// is left (a cancelled timer otherwise stays until its deadline, and the array never shrinks).
    mutating func compact(keeping isLive: (UInt64) -> Bool) {
        entries = entries.filter { isLive($0.id) }
        var index = entries.count / 2 - 1
        while index >= 0 {
            siftDown(from: index)
            index -= 1
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count, entries[right].deadline < entries[smallest].deadline { smallest = right }
            if smallest == parent { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
