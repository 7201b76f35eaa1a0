/// Which key an OpenSSH user certificate certifies, for ssh_config's `CertificateFile`: ssh offers such a
/// certificate with the private key, among its identities, whose public key the certificate carries.
package enum CertifiedKey {
    /// The public key blob of a key file: the public section of an OpenSSH private key (readable even when the
    /// private part is encrypted), else the key of its `.pub` file's line; `nil` when neither gives one.
    package static func publicKeyBlob(privateKeyFile: [UInt8]?, publicKeyFile: [UInt8]?) -> [UInt8]? {
        if let privateKeyFile, case .success(let file) = OpenSSHKeyFile.parse(privateKeyFile),
            file.publicKeys.count == 1, let blob = file.publicKeys.first
        {
            return blob
        }
        return publicKeyFile.flatMap(lineBlob)
    }

    /// Whether the certificate file's line (`<type>-cert-v01@openssh.com BASE64 [comment]`) certifies the key
    /// whose public blob is `blob`: the same key type and the same key fields.
    package static func certificate(_ certificateFile: [UInt8], certifies blob: [UInt8]) -> Bool {
        guard let certificate = lineBlob(certificateFile) else { return false }
        var certificateReader = WireReader(certificate[...])
        var keyReader = WireReader(blob[...])
        guard let certificateType = certificateReader.string(), certificateReader.string() != nil,  // the nonce
            let keyType = keyReader.string(),
            Array(certificateType) == Array(keyType) + Array("-cert-v01@openssh.com".utf8)
        else { return false }
        // The certificate's key fields follow its nonce, in the plain key's order (ed25519: pk; ecdsa: curve, Q;
        // RSA: e, n), then its serial and the rest.
        return !keyReader.rest.isEmpty && certificateReader.rest.starts(with: keyReader.rest)
    }

    /// The decoded second word of a `.pub` style line.
    private static func lineBlob(_ line: [UInt8]) -> [UInt8]? {
        let words = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D })
        guard words.count >= 2 else { return nil }
        return PEMArmor.base64Decoded(Array(words[1]))
    }
}
