/// SHA-1 and SHA-256, written here because hashed known-hosts entries need SHA-1's compression function on its
/// own (HMAC midstates, computed once per entry) and no C library may be called from this module. Checked against
/// OpenSSL's `HMAC` and `sha256sum` in the tests.
package enum SHA1 {
    /// The five-word chaining state (a value, so copying a precomputed midstate allocates nothing).
    struct State: Equatable {
        var a: UInt32 = 0x6745_2301, b: UInt32 = 0xEFCD_AB89, c: UInt32 = 0x98BA_DCFE, d: UInt32 = 0x1032_5476
        var e: UInt32 = 0xC3D2_E1F0

        var bytes: [UInt8] {
            [a, b, c, d, e].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - $0 * 8)) } }
        }

        /// The state holding the words of a 20-byte digest (to compare digests without allocating).
        init(digest: [UInt8]) {
            func word(_ index: Int) -> UInt32 {
                UInt32(digest[index]) << 24 | UInt32(digest[index + 1]) << 16 | UInt32(digest[index + 2]) << 8
                    | UInt32(digest[index + 3])
            }
            (a, b, c, d, e) = (word(0), word(4), word(8), word(12), word(16))
        }

        /// The initial state.
        init() {}
    }

    /// Absorbs one 64-byte block into `state`.
    static func compress(_ state: inout State, _ block: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            for i in 0..<16 {
                w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = (state.a, state.b, state.c, state.d, state.e)
            // Four loops of twenty rounds, one function each: no branch inside a round.
            for i in 0..<20 {
                let t = (a << 5 | a >> 27) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, t)
            }
            for i in 20..<40 {
                let t = (a << 5 | a >> 27) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, t)
            }
            for i in 40..<60 {
                let t = (a << 5 | a >> 27) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, t)
            }
            for i in 60..<80 {
                let t = (a << 5 | a >> 27) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, t)
            }
            state.a &+= a
            state.b &+= b
            state.c &+= c
            state.d &+= d
            state.e &+= e
        }
    }

    /// Finishes a hash whose state has absorbed `absorbed` bytes in whole blocks, with `tail` left over.
    static func finish(_ state: State, absorbed: Int, tail: some Collection<UInt8>) -> [UInt8] {
        var state = state
        var last = Array(tail)
        let length = UInt64(absorbed + last.count) * 8
        last.append(0x80)
        while last.count % 64 != 56 { last.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            last.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
        }
        last.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: 64) {
                compress(&state, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 64]))
            }
        }
        return state.bytes
    }

    /// The SHA-1 of `bytes`.
    package static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var state = State()
        let whole = bytes.count / 64 * 64
        bytes.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: whole, by: 64) {
                compress(&state, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 64]))
            }
        }
        return finish(state, absorbed: whole, tail: bytes[whole...])
    }
}

/// HMAC-SHA1 with its inner and outer states computed once per key (the salt of one hashed known-hosts entry),
/// so each test of a name costs two or three compressions instead of four.
struct HMACSHA1 {
    private let inner: SHA1.State
    private let outer: SHA1.State

    /// Prepares the states for `key` (a known-hosts salt: 20 bytes).
    init(key: [UInt8]) {
        var block = key.count > 64 ? SHA1.hash(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA1.State()
        var outer = SHA1.State()
        block.map { $0 ^ 0x36 }.withUnsafeBytes { SHA1.compress(&inner, $0) }
        block.map { $0 ^ 0x5C }.withUnsafeBytes { SHA1.compress(&outer, $0) }
        self.inner = inner
        self.outer = outer
    }

    /// The MAC of `message`.
    func authenticate(_ message: [UInt8]) -> [UInt8] { mac(Message(message)).bytes }

    /// A message padded once for the inner hash (its padding depends only on its length, never on the key), so
    /// testing it against many keys costs compressions only.
    struct Message {
        let blocks: [UInt8]

        init(_ message: [UInt8]) {
            var blocks = message
            let length = UInt64(64 + message.count) * 8  // the key block comes first
            blocks.append(0x80)
            while blocks.count % 64 != 56 { blocks.append(0) }
            for shift in stride(from: 56, through: 0, by: -8) {
                blocks.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
            }
            self.blocks = blocks
        }
    }

    /// The MAC of a prepared message, as state words (no allocation).
    func mac(_ message: Message) -> SHA1.State {
        var state = inner
        message.blocks.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: 64) {
                SHA1.compress(&state, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 64]))
            }
        }
        var result = outer
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { block in
            func put(_ word: UInt32, at offset: Int) {
                block[offset] = UInt8(truncatingIfNeeded: word >> 24)
                block[offset + 1] = UInt8(truncatingIfNeeded: word >> 16)
                block[offset + 2] = UInt8(truncatingIfNeeded: word >> 8)
                block[offset + 3] = UInt8(truncatingIfNeeded: word)
            }
            put(state.a, at: 0)
            put(state.b, at: 4)
            put(state.c, at: 8)
            put(state.d, at: 12)
            put(state.e, at: 16)
            block[20] = 0x80
            for index in 21..<62 { block[index] = 0 }
            block[62] = 0x02  // (64 + 20) * 8 = 672 = 0x02A0 bits
            block[63] = 0xA0
            SHA1.compress(&result, UnsafeRawBufferPointer(block))
        }
        return result
    }
}

/// SHA-256, for key fingerprints.
package enum SHA256 {
    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    /// The SHA-256 of `bytes`.
    package static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var state: [UInt32] = [
            0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab,
            0x5be0_cd19,
        ]
        var message = bytes
        let length = UInt64(bytes.count) * 8
        message.append(0x80)
        while message.count % 64 != 56 { message.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            message.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
        }
        var w = [UInt32](repeating: 0, count: 64)
        for offset in stride(from: 0, to: message.count, by: 64) {
            for i in 0..<16 {
                let j = offset + i * 4
                w[i] =
                    UInt32(message[j]) << 24 | UInt32(message[j + 1]) << 16 | UInt32(message[j + 2]) << 8
                    | UInt32(message[j + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = (
                state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7]
            )
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let choice = (e & f) ^ (~e & g)
                let t1 = h &+ s1 &+ choice &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let majority = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ majority
                (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            state[0] &+= a
            state[1] &+= b
            state[2] &+= c
            state[3] &+= d
            state[4] &+= e
            state[5] &+= f
            state[6] &+= g
            state[7] &+= h
        }
        return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - $0 * 8)) } }
    }

    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
}
