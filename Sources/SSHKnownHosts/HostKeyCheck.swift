import SSHBackend

/// One connection's host-key check under an ``SSHHostKeyPolicy``, as OpenSSH 9.2 makes it: prepared before
/// connecting (the files loaded, the entries for the host's name looked up, the host-key algorithms to offer
/// ordered with the known types first), decided after key exchange and before anything is sent.
public struct HostKeyCheck: Sendable {
    /// What the connection may do once the key is accepted.
    public enum Acceptance: Sendable, Equatable {
        /// Go on as asked.
        case accepted
        /// Go on without password or keyboard-interactive authentication: checking is off and the key is changed
        /// or revoked (OpenSSH: "disabled to avoid man-in-the-middle attacks"). `warning` is what to tell the
        /// user, as OpenSSH prints it even with `StrictHostKeyChecking no`.
        case acceptedWithoutPasswords(warning: String)
    }

    private let policy: SSHHostKeyPolicy
    private let store: KnownHostsStore
    private let host: String
    private let port: Int
    /// The name entries are looked up and written under: `HostKeyAlias`, else `host` or `[host]:port`.
    public let lookupName: String
    private let paths: [String]
    private let entries: [KnownHostsEntry]
    /// The entries for the bare host name, when OpenSSH's port-less retry applies.
    private let portlessEntries: [KnownHostsEntry]?

    /// Loads the policy's files (once per process; off the cooperative pool) and looks `host:port` up.
    public static func prepare(
        _ policy: SSHHostKeyPolicy, host: String, port: Int,
        store: KnownHostsStore = .shared
    ) async -> HostKeyCheck {
        let paths =
            policy.verifier == nil
            ? (policy.userKnownHostsFiles.map(expandTilde) + policy.globalKnownHostsFiles) : []
        let lowered = host.lowercased()
        let name = policy.hostKeyAlias ?? (port == 22 ? lowered : "[\(lowered)]:\(port)")
        if !paths.isEmpty { await store.load(paths) }
        let entries = paths.isEmpty ? [] : store.lookup(name, in: paths)
        let portless =
            port != 22 && policy.hostKeyAlias == nil && !paths.isEmpty ? store.lookup(lowered, in: paths) : nil
        return HostKeyCheck(
            policy: policy, store: store, host: host, port: port, lookupName: name, paths: paths,
            entries: entries, portlessEntries: portless)
    }

    /// OpenSSH's host-key algorithm list (9.2, without certificate algorithms, which neither engine negotiates).
    public static let defaultAlgorithms = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
    ]

    /// The key types (as in the blobs) known for the host: the plain entries for its lookup name.
    public var knownTypes: Set<String> {
        Set(entries.filter { $0.marker == .none }.map(\.key.blobType))
    }

    /// The host-key algorithms to offer, in order: OpenSSH's list, reordered as its `order_hostkeyalgs` does
    /// (unless a key of the first algorithm's type is known, algorithms of known types move to the front, in
    /// their order), then limited to what the engine supports. Both engines get the same list, so they negotiate
    /// the same key.
    /// - Parameters:
    ///   - configured: a list given instead of OpenSSH's (`HostKeyAlgorithms`), and whether it is reordered.
    public func algorithms(supported: [String], configured: [String]? = nil, reorder: Bool = true) -> [String] {
        let known = knownTypes
        var ordered = configured ?? Self.defaultAlgorithms
        if reorder, let first = ordered.first, !known.contains(HostKeyInfo.blobType(ofAlgorithm: first)) {
            let front = ordered.filter { known.contains(HostKeyInfo.blobType(ofAlgorithm: $0)) }
            ordered = front + ordered.filter { !front.contains($0) }
        }
        let engine = Set(supported)
        return ordered.filter { engine.contains($0) }
    }

    /// The decision when it needs no file write and no prompt; `nil` otherwise (then call ``decide(_:offered:)``).
    public func decideNow(_ key: SSHHostKey, offered: [String]) -> Result<Acceptance, SSHError>? {
        guard policy.verifier == nil else { return nil }
        guard let info = HostKeyInfo(key) else {
            return .failure(error(.protocolError, "the server's host key (\(key.algorithm)) cannot be read"))
        }
        if case .off = policy.mode, paths.isEmpty { return .success(.accepted) }
        switch verdict(info) {
        case .known:
            return .success(.accepted)
        case .revoked(let entry):
            let message =
                "the \(info.displayType) host key of \(lookupName) (\(info.fingerprint)) is revoked "
                + "(@revoked in \(entry.location))"
            if case .off = policy.mode { return .success(.acceptedWithoutPasswords(warning: offWarning(message))) }
            return .failure(error(.hostKeyRevoked, message))
        case .changed(let offending):
            if let unsupported = unsupportedKnownType(presented: info, offered: offered) {
                return .failure(unsupported)
            }
            let message =
                "REMOTE HOST IDENTIFICATION HAS CHANGED for \(lookupName): it presents "
                + "the \(info.displayType) key \(info.fingerprint), but the \(offending.key.displayType) key "
                + "\(offending.key.fingerprint) is known for it (offending key in \(offending.location)). Someone "
                + "could be eavesdropping, or the host key was just changed; if so, remove the old entry "
                + "(ssh-keygen -R '\(lookupName)')"
            if case .off = policy.mode { return .success(.acceptedWithoutPasswords(warning: offWarning(message))) }
            return .failure(error(.hostKeyChanged, message))
        case .new:
            switch policy.mode {
            case .strict: return .failure(unknown(info, reason: "and you have requested strict checking"))
            case .acceptNew, .off, .ask: return nil
            }
        }
    }

    /// Decides on the key `host:port` presented: accepts it, or throws the ``SSHError`` to fail the connection
    /// with. Writes an accepted new key to the first user file, and asks the policy's prompter when it says so.
    /// - Parameter offered: the algorithms the engine offered (to tell a changed key from a type it cannot
    ///   negotiate).
    public func decide(_ key: SSHHostKey, offered: [String]) async throws -> Acceptance {
        if let verifier = policy.verifier {
            try await verifier.verify(key, host: host, port: port)
            return .accepted
        }
        if let now = decideNow(key, offered: offered) { return try now.get() }
        guard let info = HostKeyInfo(key) else { throw error(.protocolError, "the server's host key cannot be read") }
        if case .ask(let prompter) = policy.mode {
            let question = SSHHostKeyQuestion(
                host: host, port: port, keyType: info.displayType, fingerprint: info.fingerprint)
            guard await PromptBatcher.ask(question, prompter) else {
                throw unknown(info, reason: "and the prompt did not accept it")
            }
        }
        try await remember(info)
        return .accepted
    }

    /// Adds an accepted new key to the first user file (none: kept in memory for this process only). As OpenSSH,
    /// a name that is not written (a pattern) or a failed write does not fail the connection: a failed write is
    /// told to the policy's warning handler ("Failed to add the host to the list of known hosts").
    private func remember(_ info: HostKeyInfo) async throws {
        guard policy.recordsNewKeys, policy.userKnownHostsFiles.first != nil else { return }
        // OpenSSH never writes a name with pattern, list or quoting characters, whatever the port: `[*]:2222`
        // would be trusted for every host on that port.
        guard Self.isWritableName(policy.hostKeyAlias ?? host) else { return }
        do {
            try await write(info)
        } catch {
            policy.warn(host: host, port: port, "failed to add the host to the list of known hosts: \(error.message)")
        }
    }

    /// Writes `key`, presented by the host, to the first user known-hosts file, as `ssh-keyscan >>` would (for a
    /// trust step that writes on the user's say-so).
    /// - Throws: `invalidArgument` for a name that may not be written (a pattern such as `*`, or no user file),
    ///   `fileTransferFailed` naming the file and the cause when it cannot be written.
    public func record(_ key: SSHHostKey) async throws(SSHError) {
        guard let info = HostKeyInfo(key) else { throw error(.protocolError, "the server's host key cannot be read") }
        guard policy.userKnownHostsFiles.first != nil else {
            throw error(.invalidArgument, "no user known-hosts file to write the key of \(lookupName) to")
        }
        guard Self.isWritableName(policy.hostKeyAlias ?? host) else {
            throw error(
                .invalidArgument,
                "'\(TerminalText.sanitized(lookupName, keepingLineBreaks: false))' is a "
                    + "pattern or holds characters a known-hosts name may not have: its key is not written")
        }
        try await write(info)
    }

    private func write(_ info: HostKeyInfo) async throws(SSHError) {
        guard let first = policy.userKnownHostsFiles.first.map(expandTilde) else { return }
        do {
            try await store.accept(info, name: lookupName, file: first, hashed: policy.hashKnownHosts)
        } catch let failure as SSHError {
            throw failure.on(host: host, port: port)
        } catch {
            throw self.error(.fileTransferFailed, "cannot write \(first): \(error)")
        }
    }

    /// Whether `name` (a host or `HostKeyAlias`, before `[…]:port` is added) may be written to a known_hosts
    /// file: not empty, and no pattern (`*`, `?`, `!`), list (`,`), marker, bracket or quoting character,
    /// whitespace or control character, any of which would make the line match other hosts or break it.
    static func isWritableName(_ name: String) -> Bool {
        !name.isEmpty
            && !name.unicodeScalars.contains { scalar in
                scalar == " " || TerminalText.isControl(scalar) || "*?!,@#[]|'\"\\".unicodeScalars.contains(scalar)
            }
    }

    /// OpenSSH's verdict, with its port-less retry (a match for the bare name counts for `[host]:port`).
    func verdict(_ info: HostKeyInfo) -> HostKeyVerdict {
        let verdict = HostKeyVerdict.judge(info, entries)
        if verdict == .new, let portlessEntries, case .known = HostKeyVerdict.judge(info, portlessEntries) {
            return HostKeyVerdict.judge(info, portlessEntries)
        }
        return verdict
    }

    /// When the host presented a key of a type that is not known while every known type is one this engine
    /// could not negotiate, the known key could not be checked: say so instead of "changed".
    private func unsupportedKnownType(presented: HostKeyInfo, offered: [String]) -> SSHError? {
        let known = knownTypes
        guard !known.contains(presented.blobType) else { return nil }
        let negotiable = Set(offered.map(HostKeyInfo.blobType(ofAlgorithm:)))
        guard !known.isEmpty, known.isDisjoint(with: negotiable) else { return nil }
        let names = known.map(HostKeyInfo.displayType(of:)).sorted().joined(separator: ", ")
        let rsaNote =
            known.contains("ssh-rsa")
            ? " (RSA host keys need rsa-sha2-256/512, which libssh2 1.10 lacks; use the libssh engine)" : ""
        return error(
            .hostKeyTypeUnsupported,
            "only a \(names) host key is known for \(lookupName), and this engine "
                + "cannot negotiate that type\(rsaNote); the server presented \(presented.displayType) \(presented.fingerprint), "
                + "which could not be checked")
    }

    /// OpenSSH's warning when checking is off and the key is changed or revoked.
    private func offWarning(_ problem: String) -> String {
        "WARNING: \(problem). Host-key checking is off, so the connection goes on, but password and "
            + "keyboard-interactive authentication are disabled to avoid man-in-the-middle attacks"
    }

    private func unknown(_ info: HostKeyInfo, reason: String) -> SSHError {
        let file = policy.userKnownHostsFiles.first ?? "~/.ssh/known_hosts"
        let scan = port == 22 ? "ssh-keyscan \(host)" : "ssh-keyscan -p \(port) \(host)"
        // ssh would accept a host certificate signed by that CA; neither engine can negotiate one.
        let authority = (entries + (portlessEntries ?? [])).first { $0.marker == .certAuthority }
        let certificateNote =
            authority.map {
                " An @cert-authority line (\($0.location)) matches this host, but host certificates cannot be "
                    + "negotiated with this engine (libssh2 1.10 and libssh 0.10 have no host-certificate key "
                    + "exchange): a CA line alone is not enough here; the host's own key must be known."
            } ?? ""
        return error(
            .hostKeyUnknown,
            "no \(info.displayType) host key is known for \(lookupName) \(reason) "
                + "(its fingerprint is \(info.fingerprint)). To trust it, check the fingerprint and add its line to \(file) "
                + "(e.g. \(scan) >> \(file)), or connect once with the acceptNew host-key mode "
                + "(StrictHostKeyChecking accept-new).\(certificateNote)")
    }

    private func error(_ code: SSHError.Code, _ message: String) -> SSHError {
        SSHError(code, host: host, port: port, message: message)
    }
}
