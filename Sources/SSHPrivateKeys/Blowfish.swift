/// Blowfish's state with the two key schedules bcrypt uses (`expandstate`, `expand0state`), as OpenBSD's
/// `blowfish.c` defines them: enough for ``BcryptPBKDF``, not a general-purpose cipher.
struct Blowfish: ~Copyable {
    /// P-array (words 0..<18) then the four S-boxes (256 words each).
    private let state: UnsafeMutablePointer<UInt32>
    private static let words = 18 + 4 * 256

    /// The initial state: the digits of pi.
    init() {
        state = UnsafeMutablePointer<UInt32>.allocate(capacity: Self.words)
        blowfishInitialState.withUnsafeBufferPointer { state.initialize(from: $0.baseAddress!, count: Self.words) }
    }

    deinit {
        // The state is derived from a passphrase.
        for index in 0..<Self.words { state[index] = 0 }
        state.deallocate()
    }

    /// Reads 4 bytes of `data` big-endian from `position`, cycling through `data`.
    @inline(__always)
    private static func word(_ data: UnsafeBufferPointer<UInt8>, _ position: inout Int) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            if position >= data.count { position = 0 }
            value = value << 8 | UInt32(data[position])
            position += 1
        }
        return value
    }

    @inline(__always)
    private func f(_ x: UInt32) -> UInt32 {
        let s = state + 18
        return ((s[Int(x >> 24)] &+ s[0x100 + Int((x >> 16) & 0xff)]) ^ s[0x200 + Int((x >> 8) & 0xff)])
            &+ s[0x300 + Int(x & 0xff)]
    }

    /// Encrypts one 64-bit block held as two words.
    @inline(__always)
    func encipher(_ left: inout UInt32, _ right: inout UInt32) {
        var l = left ^ state[0]
        var r = right
        var round = 1
        while round <= 16 {
            r ^= f(l) ^ state[round]
            l ^= f(r) ^ state[round + 1]
            round += 2
        }
        left = r ^ state[17]
        right = l
    }

    /// XORs `key` into the P-array, then refills P and S by encrypting a running block.
    private func schedule(key: UnsafeBufferPointer<UInt8>, mixing data: UnsafeBufferPointer<UInt8>?) {
        var position = 0
        for index in 0..<18 { state[index] ^= Self.word(key, &position) }
        position = 0
        var left: UInt32 = 0
        var right: UInt32 = 0
        var index = 0
        while index < Self.words {
            if let data {
                left ^= Self.word(data, &position)
                right ^= Self.word(data, &position)
            }
            encipher(&left, &right)
            state[index] = left
            state[index + 1] = right
            index += 2
        }
    }

    /// `Blowfish_expandstate`: the key schedule with `data` (the salt) mixed into the running block.
    func expand(data: UnsafeBufferPointer<UInt8>, key: UnsafeBufferPointer<UInt8>) {
        schedule(key: key, mixing: data)
    }

    /// `Blowfish_expand0state`: the key schedule alone.
    func expand(key: UnsafeBufferPointer<UInt8>) {
        schedule(key: key, mixing: nil)
    }
}
