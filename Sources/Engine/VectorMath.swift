/// Small numeric kernels written so the compiler vectorises them on every platform.
///
/// Why they exist: on Linux, `Float.squareRoot()` becomes a libm `sqrtf` call that may set
/// `errno`, which blocks loop vectorisation (one scalar square root and division per element made
/// GDN's element-wise pass several times slower than its matrix product), and a plain `+=`
/// reduction cannot be vectorised without reassociating, which IEEE arithmetic forbids.

/// `1 / sqrt(x)` for `x > 0`, within 2 ulp: the classic bit-level initial guess (constant from
/// Lomont, "Fast inverse square root", 2003) refined by three Newton steps, each of which roughly
/// doubles the number of correct bits (3.4% → 1.8e-3 → 4.7e-6 → float precision).
@inline(__always)
func reciprocalSquareRoot(_ x: Float) -> Float {
    var y = Float(bitPattern: 0x5F37_5A86 &- (x.bitPattern >> 1))
    let half = 0.5 * x
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    return y
}

/// `Σ p[0..<count]`, summed in eight interleaved lanes (the order differs from a left-to-right sum
/// by rounding only).
@inline(__always)
func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(p)
    var lanes = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
        lanes += raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: SIMD8<Float>.self)
        i += 8
    }
    var total = lanes.sum()
    while i < count {
        total += p[i]
        i += 1
    }
    return total
}
