import SSHBackend

/// OpenSSH 9.2's algorithm lists and its `+`/`-`/`^` editing of them (`kex_assemble_names`): `+` appends what
/// is not there yet, `-` removes what matches any of the comma-separated patterns (wildcards allowed), `^` puts
/// the given names first, anything else replaces the list.
enum AlgorithmLists {
    /// `ssh -G -F none` on OpenSSH 9.2, per keyword.
    static let defaults: [String: [String]] = [
        "ciphers": [
            "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com",
            "aes256-gcm@openssh.com",
        ],
        "kexalgorithms": [
            "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
            "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
            "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256",
        ],
        "macs": [
            "umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
            "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-128@openssh.com",
            "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
        ],
        "hostkeyalgorithms": [
            "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
            "sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
            "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com", "ssh-ed25519",
            "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
            "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
        ],
    ]

    /// `spec` applied to `defaults`.
    static func apply(_ spec: String, to defaults: [String]) -> [String] {
        func unique(_ names: [String]) -> [String] {
            var seen = Set<String>()
            return names.filter { seen.insert($0).inserted }
        }
        let items = spec.dropFirst().split(separator: ",").map(String.init)
        switch spec.first {
        case "+": return unique(defaults + items)
        case "-": return defaults.filter { name in !items.contains { SSHPattern.match(name, $0) } }
        case "^": return unique(items + defaults)
        default: return unique(spec.split(separator: ",").map(String.init))
        }
    }
}
