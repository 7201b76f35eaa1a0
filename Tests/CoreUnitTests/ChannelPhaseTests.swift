import SSHEngineCore
import Testing

/// A channel's phases as a table: every (phase, event) pair and the move it makes. The close sequence after a
/// remote EOF waits for the server's CLOSE and settles the exit; a caller's close does not wait for the server.
@Suite("Channel phases")
struct ChannelPhaseTests {
    typealias Row = (ChannelPhase, ChannelPhase.Event, ChannelPhase, [ChannelPhase.Action])

    static let phases: [ChannelPhase] = [
        .running, .closing(afterRemoteEOF: true), .closing(afterRemoteEOF: false),
        .waitingClosed, .freeing(afterRemoteEOF: true), .freeing(afterRemoteEOF: false),
        .detached, .finished,
    ]
    static let events: [ChannelPhase.Event] = [
        .remoteEOF, .closedByCaller, .failed, .closeCalled, .closeSent,
        .serverClosed, .freed,
    ]

    /// The pairs that move; every other pair leaves the phase as it is and does nothing.
    static let moves: [Row] = [
        (.running, .remoteEOF, .closing(afterRemoteEOF: true), []),
        (.running, .closedByCaller, .closing(afterRemoteEOF: false), []),
        (.running, .failed, .closing(afterRemoteEOF: false), []),
        (.closing(afterRemoteEOF: false), .closeCalled, .closing(afterRemoteEOF: false), [.resumeClosers]),
        (.closing(afterRemoteEOF: true), .closeSent, .waitingClosed, []),
        (.closing(afterRemoteEOF: false), .closeSent, .freeing(afterRemoteEOF: false), []),
        (.waitingClosed, .serverClosed, .freeing(afterRemoteEOF: true), [.settleExit]),
        (.freeing(afterRemoteEOF: true), .freed, .finished, [.finish]),
        (.freeing(afterRemoteEOF: false), .freed, .finished, [.finish]),
    ]

    @Test("every (phase, event) pair: the listed moves, and no move for any other pair")
    func table() {
        for phase in Self.phases {
            for event in Self.events {
                let (next, actions) = ChannelPhase.transition(phase, event)
                if let row = Self.moves.first(where: { $0.0 == phase && $0.1 == event }) {
                    #expect(next == row.2 && actions == row.3, "\(phase) on \(event)")
                } else {
                    #expect(next == phase && actions.isEmpty, "\(phase) on \(event) moved to \(next) doing \(actions)")
                }
            }
        }
    }

    @Test("whether the remote's EOF came first is known in every phase of the close")
    func sawRemoteEOF() {
        #expect(
            Self.phases.filter(\.sawRemoteEOF) == [
                .closing(afterRemoteEOF: true), .waitingClosed,
                .freeing(afterRemoteEOF: true),
            ])
    }
}
