import Foundation
import NIOCore

/// pgvector's text form of a vector, for a query's single vector (a search); writes send
/// vectors in binary (``VectorArray``).
enum VectorText {
    /// `[0x19999ap-27,...]`, a non-finite value as 0.
    ///
    /// Each float is a C99 hexadecimal constant (its significand as a hexadecimal integer and a
    /// binary exponent), which pgvector reads with `strtof`: exact by construction, so the server
    /// compares the very floats the model produced, with no search for shortest decimal digits.
    static func write(_ vector: [Float], to buffer: inout ByteBuffer) {
        // Per float at most "-0x" + 6 digits + "p-149" + ",": 15 bytes.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 + 15 * vector.count) { out in
            var at = 0
            func put(_ byte: UInt8) {
                out[at] = byte
                at += 1
            }
            put(UInt8(ascii: "["))
            for (k, x) in vector.enumerated() {
                if k > 0 { put(UInt8(ascii: ",")) }
                guard x.isFinite else {
                    put(UInt8(ascii: "0"))
                    continue
                }
                if x.sign == .minus { put(UInt8(ascii: "-")) }
                guard x != 0 else {
                    put(UInt8(ascii: "0"))
                    continue
                }
                // x = significand × 2^exponent, with the implicit bit of a normal number.
                let biased = Int(x.exponentBitPattern)
                var significand = UInt32(x.significandBitPattern) | (biased == 0 ? 0 : 1 << 23)
                var exponent = biased == 0 ? -149 : biased - 150
                let zeros = significand.trailingZeroBitCount
                significand >>= UInt32(zeros)
                exponent += zeros
                put(UInt8(ascii: "0"))
                put(UInt8(ascii: "x"))
                var digit = (32 - significand.leadingZeroBitCount + 3) / 4
                while digit > 0 {
                    digit -= 1
                    put(hexDigits[Int((significand >> UInt32(4 * digit)) & 0xF)])
                }
                put(UInt8(ascii: "p"))
                if exponent < 0 { put(UInt8(ascii: "-")) }
                let e = exponent.magnitude
                if e >= 100 { put(UInt8(ascii: "0") + UInt8(e / 100)) }
                if e >= 10 { put(UInt8(ascii: "0") + UInt8(e / 10 % 10)) }
                put(UInt8(ascii: "0") + UInt8(e % 10))
            }
            put(UInt8(ascii: "]"))
            return at
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
