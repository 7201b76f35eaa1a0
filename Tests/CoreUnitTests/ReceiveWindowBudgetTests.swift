import Testing

@testable import SSHEventLoop

/// The budget downloads draw their receive windows from: a few get deep windows, many get the floor, and every
/// window is given back.
@Suite("Receive window budget")
struct ReceiveWindowBudgetTests {
    @Test("windows shrink from the ceiling to the floor as the budget runs out, and come back when released")
    func sharing() {
        let budget = ReceiveWindowBudget(total: 40 << 20)
        var held = (0..<4).map { _ in budget.reserve() }
        #expect(held.map(\.bytes) == [16 << 20, 16 << 20, 8 << 20, 2 << 20], "ceiling, ceiling, what is left, floor")
        #expect(budget.inUse == 42 << 20, "the floor is granted even past the budget")
        held.removeFirst()
        #expect(budget.inUse == 26 << 20)
        #expect(budget.reserve().bytes == 14 << 20, "a released window is lent again")
        held.removeAll()
        #expect(budget.inUse == 0)
    }

    @Test("ten thousand downloads at once hold the floor each beyond the budget, not the ceiling")
    func manyDownloads() {
        let budget = ReceiveWindowBudget(total: 256 << 20)
        let held = (0..<10_000).map { _ in budget.reserve() }
        #expect(held.filter { $0.bytes == ReceiveWindowBudget.ceiling }.count == 16)
        #expect(budget.inUse <= 256 << 20 + 10_000 * ReceiveWindowBudget.floor)
        #expect(held.last?.bytes == ReceiveWindowBudget.floor)
    }
}
