// Conversions between Float and the 16-bit float formats, written on the bit patterns so that
// they give the same bits on every platform (Swift's Float16 is missing on Intel Macs).
// Float → 16 bits rounds to nearest, ties to even, as IEEE 754 and numpy do.

/// The IEEE 754 binary16 bits nearest to `value` (ties to even; overflow gives ±infinity;
/// NaN gives a quiet NaN keeping the sign and the top payload bits).
func halfBits(from value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude > 0x7F80_0000 {                       // NaN: force the quiet bit so the payload never reads as infinity
        return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x03FF)
    }
    if magnitude >= 0x477F_F000 {                      // ≥ 65520, halfway between 65504 (odd mantissa) and 65536: rounds to infinity
        return sign | 0x7C00
    }
    if magnitude < 0x3880_0000 {                       // below 2^-14: a subnormal half or zero
        if magnitude <= 0x3300_0000 { return sign }    // ≤ 2^-25, half the smallest subnormal: ties to even give zero
        let exponent = magnitude >> 23                 // 102...112
        let significand = (magnitude & 0x007F_FFFF) | 0x0080_0000
        let shift = 126 - exponent                     // the value in units of 2^-24 is significand >> shift
        var result = significand >> shift
        let remainder = significand & ((1 << shift) - 1)
        let halfway: UInt32 = 1 << (shift - 1)
        if remainder > halfway || (remainder == halfway && result & 1 == 1) { result += 1 }
        return sign | UInt16(truncatingIfNeeded: result) // 0x400 after rounding up is the smallest normal, as it should be
    }
    var result = (magnitude >> 13) &- (112 << 10)      // rebias the exponent from 127 to 15
    let remainder = magnitude & 0x1FFF
    if remainder > 0x1000 || (remainder == 0x1000 && result & 1 == 1) { result += 1 } // a carry moves into the exponent correctly
    return sign | UInt16(truncatingIfNeeded: result)
}

/// The Float equal to the binary16 value with bits `bits` (exact: every half is a float).
func float(fromHalfBits bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        let magnitude = Float(mantissa) * 0x1p-24     // subnormal (or zero): exact
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// The bfloat16 bits nearest to `value` (ties to even; NaN stays a quiet NaN).
func bfloat16Bits(from value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1) // overflow past the largest finite value carries into infinity
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

/// The Float equal to the bfloat16 value with bits `bits` (exact).
func float(fromBFloat16Bits bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}
