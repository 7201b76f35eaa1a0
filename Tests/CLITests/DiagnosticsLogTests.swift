import FleetCLI
import Logging
import Testing

@Suite("fleetsh -vv diagnostics lines")
struct DiagnosticsLogTests {
    @Test("the host first, then the other metadata in key order, each value on one line")
    func lines() {
        #expect(DiagnosticsLogHandler.line("connected", metadata: ["host": "web1"]) == "fleetsh: web1: connected\n")
        #expect(
            DiagnosticsLogHandler.line(
                "connection attempt failed, retrying",
                metadata: ["host": "web1", "error": "first line\nsecond line", "attempt": "1"])
                == "fleetsh: web1: connection attempt failed, retrying (attempt: 1, error: first line second line)\n")
        #expect(DiagnosticsLogHandler.line("started", metadata: [:]) == "fleetsh: started\n")
    }
}
