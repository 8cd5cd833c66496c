/// Coding a symbol straight from the integer weights of its distribution, with exactly the
/// intervals `FrequencyTable(weights:)` would hold, without building the table.
///
/// The table's rule gives symbol i the cumulative count `i + ⌊(total − K) · W_i / S⌋` (W_i the sum
/// of the first i weights, S the sum of all), so coding one symbol needs two of those counts and
/// decoding one needs a search over them: ⌈log2 K⌉ counts instead of K. The bytes are the same as
/// coding with the table (`WeightCodingTests` checks every count against the table's).
///
/// Weights are `UInt32`, K in `FrequencyTable.symbolCountRange`, and their sum must be positive:
/// the prior's weights always are (its largest logit maps to an exp-table entry ≥ 1); a violation
/// is a programmer error and stops the program.
@usableFromInline
struct WeightQuantisation {
    @usableFromInline let spare: UInt64
    @usableFromInline let divider: ExactDivider

    /// - sum: S, positive; with K ≤ 4096 weights below 2^32, S < 2^44 and spare · S < 2^60.
    @inlinable
    init(symbolCount k: Int, sum: UInt64) {
        precondition(FrequencyTable.symbolCountRange.contains(k), "alphabet size \(k)")
        precondition(sum > 0, "the weights of a distribution must not all be zero")
        spare = UInt64(FrequencyTable.total) - UInt64(k)
        divider = ExactDivider(divisor: sum)
    }

    /// `cumulative[index]` of the table, from W_index = `prefix`.
    @inlinable
    func cumulative(_ index: Int, prefix: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: index) &+ UInt32(truncatingIfNeeded: divider.quotient(spare &* prefix))
    }
}

extension RangeEncoder {
    /// Codes `symbol` (in `0 ..< weights.count`) under the table `FrequencyTable(weights: weights)`
    /// would hold, without building it. Returns the symbol's frequency in units of
    /// `FrequencyTable.total` (its probability is that over `total`).
    @inlinable @discardableResult
    public mutating func encode(symbol: Int, weights: UnsafeBufferPointer<UInt32>) -> UInt32 {
        let k = weights.count
        precondition(symbol >= 0 && symbol < k, "symbol \(symbol) outside its alphabet 0..<\(k)")
        var below: UInt64 = 0
        for i in 0..<symbol { below &+= UInt64(weights[i]) }
        var above: UInt64 = 0
        for i in (symbol &+ 1)..<k { above &+= UInt64(weights[i]) }
        let through = below &+ UInt64(weights[symbol])
        let rule = WeightQuantisation(symbolCount: k, sum: through &+ above)
        let start = rule.cumulative(symbol, prefix: below)
        let end = rule.cumulative(symbol &+ 1, prefix: through)
        encode(start: start, end: end)
        return end &- start
    }
}

extension RangeDecoder {
    /// Decodes the next symbol, which the encoder coded under `FrequencyTable(weights: weights)`
    /// (or with `RangeEncoder.encode(symbol:weights:)`), without building the table.
    /// - prefixSums: work space for `weights.count + 1` values.
    /// - Returns: a symbol in `0 ..< weights.count`.
    /// - Throws: `RangeCoderError.streamExhausted` when the stream (plus its padding) is used up.
    @inlinable
    public mutating func decode(weights: UnsafeBufferPointer<UInt32>,
                                prefixSums: UnsafeMutablePointer<UInt64>) throws(RangeCoderError) -> Int {
        let k = weights.count
        var sum: UInt64 = 0
        prefixSums[0] = 0
        for i in 0..<k {
            sum &+= UInt64(weights[i])
            prefixSums[i &+ 1] = sum
        }
        let rule = WeightQuantisation(symbolCount: k, sum: sum)
        let unit = currentUnit()
        // The largest s with cumulative[s] ≤ unit (cumulative[0] = 0 ≤ unit); it lies in
        // base ..< base + n. Counts increase strictly with s, as in the table.
        var base = 0
        var n = k
        while n > 1 {
            let half = n >> 1
            if rule.cumulative(base &+ half, prefix: prefixSums[base &+ half]) <= unit { base &+= half }
            n &-= half
        }
        try consume(start: rule.cumulative(base, prefix: prefixSums[base]),
                    end: rule.cumulative(base &+ 1, prefix: prefixSums[base &+ 1]))
        return base
    }
}
