import SSHEngineCore
import Testing

/// The connect operation's phases as a table: every (phase, outcome) pair, with and without a person asked about
/// host keys, and the move it makes.
@Suite("Connect phases")
struct ConnectPhaseTests {
    typealias Row = (ConnectPhase, ConnectPhase.Outcome, Bool, ConnectPhase, ConnectPhase.Action)

    static let table: [Row] = [
        (.tcp, .wouldBlock, false, .tcp, .waitForIO),
        (.tcp, .done, false, .handshake, .startHandshake),
        (.tcp, .failed, false, .failed, .fail),
        (.handshake, .wouldBlock, false, .handshake, .waitForIO),
        (.handshake, .done, false, .verifyHostKey, .checkHostKey(deadline: true)),
        // A prompt waits for a person: no deadline of ours.
        (.handshake, .done, true, .verifyHostKey, .checkHostKey(deadline: false)),
        (.handshake, .failed, false, .failed, .fail),
        (.verifyHostKey, .wouldBlock, true, .verifyHostKey, .waitForIO),
        (.verifyHostKey, .done, false, .authenticate, .authenticate),
        (.verifyHostKey, .failed, false, .failed, .fail),
        (.authenticate, .wouldBlock, false, .authenticate, .waitForIO),
        (.authenticate, .done, false, .connected, .finish),
        (.authenticate, .failed, false, .failed, .fail),
        // Once over, nothing moves it.
        (.connected, .done, false, .connected, .waitForIO),
        (.connected, .failed, false, .connected, .waitForIO),
        (.failed, .done, false, .failed, .waitForIO),
        (.failed, .wouldBlock, false, .failed, .waitForIO),
    ]

    @Test("every (phase, outcome) pair moves to its phase with its action", arguments: table.indices)
    func transition(row: Int) {
        let (phase, outcome, prompting, expectedPhase, expectedAction) = Self.table[row]
        let (next, action) = ConnectPhase.transition(phase, outcome, prompting: prompting)
        #expect(next == expectedPhase)
        #expect(action == expectedAction)
    }

    @Test("the table covers every outcome of every working phase")
    func complete() {
        let working: [ConnectPhase] = [.tcp, .handshake, .verifyHostKey, .authenticate]
        for phase in working {
            for outcome in [ConnectPhase.Outcome.wouldBlock, .done, .failed] {
                #expect(Self.table.contains { $0.0 == phase && $0.1 == outcome }, "\(phase) \(outcome) has no row")
            }
        }
    }
}
