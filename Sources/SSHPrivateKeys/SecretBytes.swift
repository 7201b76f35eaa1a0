import CLibCrypto

/// Bytes of a secret (a derived key, a decrypted private key), held in memory of their own and overwritten with
/// zeros when the last reference goes. Never changed once filled, so they can be shared across threads.
package final class SecretBytes: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer

    /// `count` zero bytes.
    init(count: Int) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        self.count = count
    }

    /// A copy of `bytes`.
    convenience init(_ bytes: some Collection<UInt8>) {
        self.init(count: bytes.count)
        for (index, byte) in bytes.enumerated() { storage[index] = byte }
    }

    deinit {
        LibCrypto.cleanse(storage)
        storage.deallocate()
    }

    /// How many bytes.
    package let count: Int

    subscript(index: Int) -> UInt8 {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    /// Calls `body` with the bytes (valid only during the call).
    package func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// Calls `body` with the bytes to fill them (while the secret is being made, before it is shared).
    func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// A copy of the bytes from `range` (for key and IV halves of a derivation).
    func slice(_ range: Range<Int>) -> SecretBytes {
        SecretBytes(UnsafeRawBufferPointer(rebasing: storage[range]))
    }
}
