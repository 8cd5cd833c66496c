/// SplitMix64 (Steele, Lea and Flood 2014): a small, fast, seedable generator, so weight
/// initialisation, data sampling, benchmarks and tests are reproducible from one `UInt64` seed on
/// every machine. The one generator of the package: the trainers, the benchmarks and the tests all
/// draw from it, so a sequence quoted in one place means the same everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's whole state: the next output is a function of it alone.
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits of the next output (every value a multiple of 2^-53).
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in `0..<bound` by the remainder of one draw (a bias below 2^-50 for the bounds the
    /// package uses: sizes and indices, not cryptography).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(\(bound))")
        return Int(next() % UInt64(bound))
    }

    /// Uniform in `range`, from the top 24 bits of one draw.
    public mutating func float(in range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * Float(next() >> 40) / Float(1 << 24)
    }
}
