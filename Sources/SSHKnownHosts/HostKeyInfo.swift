import Foundation
import SSHBackend

/// What OpenSSH derives from a public key blob: its type (the name inside the blob, which for ECDSA includes the
/// curve), the type as OpenSSH prints it, and its SHA-256 fingerprint. Computed here, from the bytes, so both
/// engines give identical verdicts and messages.
public struct HostKeyInfo: Sendable, Hashable {
    /// The type named inside the blob, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`.
    public let blobType: String
    /// The blob.
    public let blob: [UInt8]

    /// Reads the type from `blob`; `nil` when the blob is not an SSH public key encoding.
    public init?(blob: [UInt8]) {
        guard blob.count >= 4 else { return nil }
        let length = Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3])
        guard length > 0, length <= 64, blob.count >= 4 + length,
            let type = String(bytes: blob[4..<4 + length], encoding: .ascii)
        else { return nil }
        blobType = type
        self.blob = blob
    }

    /// The key of a negotiated host key.
    public init?(_ key: SSHHostKey) { self.init(blob: key.blob) }

    /// The type as OpenSSH prints it: `ED25519`, `ECDSA`, `RSA`, `DSA`, `ED25519-SK`, `ECDSA-SK`, and `-CERT`
    /// forms.
    public var displayType: String { Self.displayType(of: blobType) }

    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    public var fingerprint: String {
        var text = Data(SHA256.hash(blob)).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:" + text
    }

    /// The base64 of the blob, as in a known-hosts line.
    public var base64: String { Data(blob).base64EncodedString() }

    /// The display name of a blob type.
    static func displayType(of blobType: String) -> String {
        var plain = blobType
        let certificate = plain.hasSuffix("-cert-v01@openssh.com")
        if certificate { plain = String(plain.dropLast("-cert-v01@openssh.com".count)) }
        let name: String
        switch plain {
        case "ssh-ed25519": name = "ED25519"
        case "ssh-rsa": name = "RSA"
        case "ssh-dss": name = "DSA"
        case "sk-ssh-ed25519@openssh.com": name = "ED25519-SK"
        case "sk-ecdsa-sha2-nistp256@openssh.com": name = "ECDSA-SK"
        case "ssh-xmss@openssh.com": name = "XMSS"
        default: name = plain.hasPrefix("ecdsa-sha2-") ? "ECDSA" : plain.uppercased()
        }
        return certificate ? name + "-CERT" : name
    }

    /// The blob type an algorithm negotiates: the RSA signature algorithms all use `ssh-rsa` keys.
    public static func blobType(ofAlgorithm algorithm: String) -> String {
        switch algorithm {
        case "rsa-sha2-256", "rsa-sha2-512": return "ssh-rsa"
        case "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com":
            return "ssh-rsa-cert-v01@openssh.com"
        default: return algorithm
        }
    }

    /// Every key type OpenSSH 9.2 reads and writes in known-hosts files.
    static let knownBlobTypes: Set<String> = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa", "ssh-dss",
        "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com",
    ]
}
