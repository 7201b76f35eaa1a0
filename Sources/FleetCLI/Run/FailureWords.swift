import SSHBackend

extension SSHError {
    /// What happened, in the words a person reads on a terminal: a short phrase for the code ("connection
    /// refused", "host key unknown", "timed out") and the message, without the code's name, the host (the line
    /// names it already) or the native library's code. `fleetsh -v` and the JSON report give ``description``.
    public var inWords: String {
        let phrase = SSHError.phrases[code] ?? code.name
        let lowered = message.lowercased()
        let said = ([phrase] + (SSHError.sameAs[code] ?? [])).contains { lowered.contains($0.lowercased()) }
        var text = said ? message : "\(phrase): \(message)"
        if !attempts.isEmpty {
            text += " (tried: " + attempts.map(\.description).joined(separator: "; ") + ")"
        }
        return TerminalText.sanitized(text)
    }

    /// Words in a message that already say what a code's phrase would.
    private static let sameAs: [Code: [String]] = [
        .timeout: ["took longer than", "did not finish within", "timed out"],
        .hostKeyChanged: ["has changed"],
        .authenticationFailed: ["permission denied"],
    ]

    /// A phrase per code, as a person would say it.
    private static let phrases: [Code: String] = [
        .unknownHost: "unknown host",
        .connectionRefused: "connection refused",
        .hostUnreachable: "host unreachable",
        .timeout: "timed out",
        .handshakeFailed: "SSH handshake failed",
        .closedBeforeBanner: "closed before the SSH banner",
        .authenticationFailed: "authentication failed",
        .invalidKey: "key unusable",
        .channelFailure: "refused by the server",
        .channelOpenRefused: "channel refused",
        .sessionClosed: "session closed",
        .connectionLost: "connection lost",
        .unsupported: "not supported",
        .invalidArgument: "bad setting",
        .protocolError: "protocol error",
        .resourceExhausted: "out of resources",
        .fileTransferFailed: "transfer failed",
        .noSuchFile: "no such file",
        .permissionDenied: "permission denied",
        .noSpace: "no space left",
        .outputLimitExceeded: "output limit reached",
        .hostKeyUnknown: "host key unknown",
        .hostKeyChanged: "host key changed",
        .hostKeyRevoked: "host key revoked",
        .hostKeyTypeUnsupported: "host key type unsupported",
        .cancelled: "interrupted",
        .other: "failed",
    ]
}
