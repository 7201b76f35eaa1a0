import Dispatch
import FleetCLI
import ParallelFrontend
import SSHBackend
import SSHConfig
import SSHEngineCore
import SSHFileTransfer
import SSHKnownHosts
import SSHPrivateKeys

/// The parsers that read bytes nobody here controls, as fuzz targets: each ``run(_:)`` takes arbitrary bytes into
/// one of them and must come back (with a result or its typed error) for every input: never trap, hang, or
/// allocate without bound. Some also check a property of the result (an SCP name never lands outside the
/// requested place). `fuzz/run` drives them under libFuzzer; `FuzzReplayTests` replays the committed seed corpora
/// and every input that ever crashed one.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// SFTP framing and replies: packets split at arbitrary points, each decoded as the client decodes its type.
    case sftp
    /// SCP control records as `scp -f` sends them, through the receiving state machine.
    case scp
    /// Host sets (`web[01-20]`, products, lists), and folding back.
    case nodeset
    /// known_hosts files: every line form, then lookups.
    case knownHosts = "known-hosts"
    /// ssh_config text through the whole evaluation (Host and Match blocks, tokens), `Match exec` and `Include`
    /// left out (they run commands and read files).
    case sshConfig = "ssh-config"
    /// A server's identification string and KEXINIT.
    case kexinit
    /// Private key files (OpenSSH's format and PEM) decrypted with a passphrase, at most 4 bcrypt rounds.
    case privateKey = "private-key"
    /// Host and user names through OpenSSH's rules (a name accepted holds nothing a shell acts on), the terminal
    /// sanitiser and the local file name made from a host (never `/`, `.` or `..`).
    case names
    /// Output split into lines at arbitrary chunk boundaries under a small cap: no piece over the cap, none holding
    /// a newline, no byte lost but line ends.
    case lines

    /// Feeds `data` to the target.
    public func run(_ data: [UInt8]) {
        switch self {
        case .sftp: Self.sftp(data)
        case .scp: Self.scp(data)
        case .nodeset: Self.nodeset(data)
        case .knownHosts: Self.knownHosts(data)
        case .sshConfig: Self.sshConfig(data)
        case .kexinit: Self.kexinit(data)
        case .privateKey: Self.privateKey(data)
        case .names: Self.names(data)
        case .lines: Self.lines(data)
        }
    }

    private static func sftp(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let chunk = Int(first % 64) + 1
        var buffer = PacketBuffer()
        var offset = 1
        while offset < data.count {
            buffer.append(Array(data[offset..<min(offset + chunk, data.count)]))
            offset += chunk
            while true {
                guard let packet = try? buffer.next() else { return }  // nil: wants more; error: refused
                var reader = SFTPReader(packet)
                guard let type = try? reader.readByte() else { continue }
                if type == SFTP.PacketType.version.rawValue {
                    _ = try? reader.readUInt32()
                    while reader.remaining > 0, (try? reader.readString()) != nil, (try? reader.readString()) != nil {}
                    continue
                }
                guard (try? reader.readUInt32()) != nil else { continue }  // request id
                switch SFTP.PacketType(rawValue: type) {
                case .status?:
                    _ = try? reader.readUInt32()
                    _ = try? reader.readString()
                    _ = try? reader.readString()
                case .handle?, .data?: _ = try? reader.readBytes()
                case .name?: _ = try? reader.readNames()
                case .attrs?: _ = try? reader.readAttributes()
                default: break
                }
            }
        }
    }

    private static func scp(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let top = "/fuzz/top"
        var state = SCPReceiveState(top: top, recursive: first & 1 == 1)
        for line in data.dropFirst().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            guard let kind = line.first else { continue }
            let step: SCPReceiveState.Step
            do { step = try state.consume(kind: kind, line: String(decoding: line.dropFirst(), as: UTF8.self)) } catch {
                return
            }
            switch step {
            case .file(let path, _, _), .directory(let path, _):
                let inside =
                    path == top
                    || (path.hasPrefix(top + "/")
                        && !path.dropFirst(top.count + 1).split(separator: "/", omittingEmptySubsequences: false)
                            .contains { $0.isEmpty || $0 == "." || $0 == ".." })
                precondition(inside, "an SCP record landed outside the requested place: \(path)")
            case .acknowledge, .endDirectory:
                break
            }
            if state.isComplete { return }
        }
    }

    private static func nodeset(_ data: [UInt8]) {
        let text = String(decoding: data.prefix(512), as: UTF8.self)
        guard let names = try? NodeSet.expand(text), names.count <= 100_000 else { return }
        // Plain names fold into a set that expands back to the same names.
        guard
            names.allSatisfy({
                $0.utf8.allSatisfy {
                    ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D
                }
            })
        else { return }
        let folded = NodeSet.fold(names)
        let again = (try? NodeSet.expand(folded)) ?? []
        precondition(Set(again) == Set(names), "fold(\(names.prefix(5))...) = \(folded) does not expand back")
    }

    private static func knownHosts(_ data: [UInt8]) {
        let parsed = KnownHostsParser.parse(data, file: "fuzz")
        let index = KnownHostsIndex(parsed.entries)
        for name in ["host.example", "[10.0.0.1]:2222", "127.0.0.1", ""] { _ = index.lookup(name) }
    }

    private static func sshConfig(_ data: [UInt8]) {
        let text = String(decoding: data.prefix(4096), as: UTF8.self)
        let lowered = text.lowercased()
        if lowered.contains("exec") || lowered.contains("include") { return }
        let source = SSHConfigSource(
            userFile: nil, systemFile: nil, options: text.split(separator: "\n").map(String.init))
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            _ = try? await SSHConfigResolver().resolve(host: "fuzz.example", source: source)
            done.signal()
        }
        done.wait()
    }

    private static func privateKey(_ data: [UInt8]) {
        switch PrivateKeyDecryption.decrypt(data, passphrase: "fuzzy", maximumRounds: 4) {
        case .decrypted(let plain, _):
            // What comes out is an unencrypted key of the same format.
            guard
                case .notEncrypted = PrivateKeyDecryption.decrypt(plain.withUnsafeBytes { Array($0) }, passphrase: nil)
            else { fatalError("a decrypted key does not read back as unencrypted") }
        case .notEncrypted, .failed: break
        }
    }

    private static func names(_ data: [UInt8]) {
        let name = String(decoding: data.prefix(256), as: UTF8.self)
        let shell = Set("'`\"$\\;&<>|(){}".unicodeScalars)
        if SSHNameCheck.hostNameProblem(name) == nil {
            precondition(!name.isEmpty && !name.hasPrefix("-"), "accepted host name \(name.debugDescription)")
            precondition(
                !name.unicodeScalars.contains { shell.contains($0) || $0.value < 0x21 || $0.value == 0x7F },
                "accepted host name \(name.debugDescription) holds a shell or control character")
        }
        if SSHNameCheck.userNameProblem(name) == nil {
            precondition(
                !name.hasPrefix("-") && !name.unicodeScalars.contains { shell.contains($0) && $0 != "$" && $0 != "\\" },
                "accepted user name \(name.debugDescription)")
        }
        let shown = TerminalText.sanitized(name)
        precondition(
            !shown.unicodeScalars.contains { TerminalText.needsEscape($0, keepingLineBreaks: true) },
            "sanitised text \(shown.debugDescription) still holds a control character")
        let file = HostFileName.component(name)
        precondition(
            !file.isEmpty && file != "." && file != ".." && !file.contains("/") && !file.contains("\0"),
            "host \(name.debugDescription) makes the file name \(file.debugDescription)")
    }

    private static func lines(_ data: [UInt8]) {
        guard data.count >= 2 else { return }
        let cap = Int(data[0] % 32) + 4
        let chunk = Int(data[1] % 16) + 1
        let input = data.dropFirst(2)
        var splitter = LineSplitter(maximumLineLength: cap)
        var total = 0
        func take(_ piece: ArraySlice<UInt8>) {
            precondition(
                piece.count <= cap && !piece.contains(10), "a piece of \(piece.count) bytes over the cap \(cap)")
            total += piece.count
        }
        var index = input.startIndex
        while index < input.endIndex {
            splitter.append(input[index..<min(index + chunk, input.endIndex)])
            while let piece = splitter.nextLine() { take(piece) }
            index += chunk
        }
        while let piece = splitter.takeRest() { take(piece) }
        let breaks = input.filter { $0 == 10 }.count
        precondition(
            total <= input.count - breaks && total >= input.count - 2 * breaks,
            "\(total) bytes out of \(input.count) with \(breaks) line breaks")
    }

    private static func kexinit(_ data: [UInt8]) {
        guard let offer = ServerAlgorithmOffer(serverStream: data) else { return }
        let client = SSHAlgorithmSupport(
            hostKeys: ["ssh-ed25519"], ciphers: ["aes128-ctr"],
            keyExchange: ["curve25519-sha256"], macs: ["hmac-sha2-256"])
        _ = offer.mismatch(with: client, clientName: "fuzz")
    }
}
