/// The quantised distribution of one coded symbol: an integer CDF with a fixed total of
/// 2^16 units, over an alphabet of 2…4096 symbols, in which every symbol has at least one unit.
///
/// `cumulative[s]` is the number of units below symbol `s`; symbol `s` owns the half-open
/// interval `cumulative[s] ..< cumulative[s + 1]` of `0 ..< total`, so its probability is
/// `(cumulative[s + 1] − cumulative[s]) / total`.
///
/// Invariants (established by every initialiser, so coders may rely on them):
/// - `cumulative.count == symbolCount + 1`, `symbolCount` in `symbolCountRange`;
/// - `cumulative[0] == 0` and `cumulative[symbolCount] == total`;
/// - strictly increasing: every frequency is at least 1, so every symbol stays codable.
///
/// Building tables: the prior makes one table per coded symbol, so construction is O(K) with no
/// allocation once a table exists: keep one `FrequencyTable` and call `assign(weights:)` on it for
/// each symbol; its storage is reused while the alphabet size stays the same (and the table is not
/// shared with another variable). This module holds integer tables only: the quantisation of
/// floating-point probabilities (for measuring a float model) lives with the float prior, in
/// `Prior`, so that nothing on the coding path can depend on floating-point arithmetic.
///
/// Quantisation of weights: with W_i the sum of the first i weights and
/// S the sum of all, `cumulative[i] = i + ⌊(total − K) · W_i / S⌋`. Each symbol gets its one-unit
/// floor plus its proportional share of the remaining `total − K` units rounded down or up, and
/// the total is exact by construction: no leftover units to hand out and no sorting. A symbol
/// with a higher weight never gets fewer units than one with a lower weight minus one.
/// The result is a pure function of the input, computed with integer arithmetic only.
public struct FrequencyTable: Sendable, Equatable {
    /// log2 of `total`: the coder works with cumulative counts of this many bits.
    public static let precisionBits = 16
    /// The fixed sum of all frequencies, 2^16.
    public static let total: UInt32 = 1 << precisionBits
    /// Alphabet sizes a table may have. 4096 symbols still leave 15/16 of the mass to model;
    /// 2 is the smallest alphabet that carries information.
    public static let symbolCountRange: ClosedRange<Int> = 2...4096

    /// `symbolCount + 1` strictly increasing counts from 0 to `total` (see the type's invariants).
    @usableFromInline internal var storage: [UInt32]

    /// Number of symbols K.
    @inlinable public var symbolCount: Int { storage.count - 1 }

    /// The K + 1 cumulative counts, `0` first and `total` last.
    public var cumulative: [UInt32] { storage }

    /// Units owned by `symbol` (at least 1).
    @inlinable public func frequency(of symbol: Int) -> UInt32 {
        precondition(symbol >= 0 && symbol < symbolCount, "symbol \(symbol) outside 0..<\(symbolCount)")
        return storage[symbol + 1] - storage[symbol]
    }

    // MARK: Initialisers from cumulative counts

    /// Validates untrusted cumulative counts (for example read from a file).
    /// - Throws: `RangeCoderError.alphabetSizeOutOfRange`, `.cumulativeDoesNotStartAtZero`,
    ///   `.cumulativeTotalMismatch` or `.cumulativeNotIncreasing`.
    public init(cumulative: [UInt32]) throws(RangeCoderError) {
        let k = cumulative.count - 1
        guard Self.symbolCountRange.contains(k) else { throw .alphabetSizeOutOfRange(found: max(k, 0)) }
        guard cumulative[0] == 0 else { throw .cumulativeDoesNotStartAtZero(found: cumulative[0]) }
        guard cumulative[k] == Self.total else {
            throw .cumulativeTotalMismatch(expected: Self.total, found: cumulative[k])
        }
        for s in 0..<k where cumulative[s] >= cumulative[s + 1] {
            throw .cumulativeNotIncreasing(symbol: s, low: cumulative[s], high: cumulative[s + 1])
        }
        storage = cumulative
    }

    /// Wraps cumulative counts the caller guarantees to satisfy the type's invariants.
    /// A violation is a programmer mistake and stops the program (checked in all builds, in one
    /// branch-free pass).
    @inlinable public init(trustedCumulative cumulative: [UInt32]) {
        precondition(Self.symbolCountRange.contains(cumulative.count - 1), "alphabet size \(cumulative.count - 1)")
        precondition(cumulative[0] == 0 && cumulative[cumulative.count - 1] == Self.total,
                     "cumulative counts must run from 0 to \(Self.total)")
        precondition(Self.isStrictlyIncreasing(cumulative), "cumulative counts must be strictly increasing")
        storage = cumulative
    }

    /// The uniform table over `symbolCount` symbols (the first symbols get one unit more when
    /// `total` is not a multiple of `symbolCount`). Handy as a reusable buffer for `assign`.
    public init(uniformOver symbolCount: Int) {
        precondition(Self.symbolCountRange.contains(symbolCount), "alphabet size \(symbolCount)")
        storage = []
        // Equal weights cannot fail: the count is in range and the sum is positive.
        try! assign(weights: repeatElement(UInt32(1), count: symbolCount))
    }

    // MARK: Quantisation of integer weights

    /// Quantises non-negative integer weights (any scale, not all zero) with integer arithmetic
    /// only. See the type's documentation for the rule.
    /// - Throws: `.alphabetSizeOutOfRange`, `.weightOutOfRange` (negative or above 2^64 − 1),
    ///   `.weightSumOverflow`, `.allWeightsZero`.
    @inlinable
    public init<Weights: Collection>(weights: Weights) throws(RangeCoderError)
    where Weights.Element: FixedWidthInteger {
        storage = []
        try assign(weights: weights)
    }

    /// Overwrites this table with the quantisation of `weights`, reusing its storage when the
    /// alphabet size is unchanged. On error the table is left as it was.
    @inlinable
    public mutating func assign<Weights: Collection>(weights: Weights) throws(RangeCoderError)
    where Weights.Element: FixedWidthInteger {
        let error = weights.withContiguousStorageIfAvailable { assign(contiguousWeights: $0) }
            ?? Array(weights).withUnsafeBufferPointer { assign(contiguousWeights: $0) }
        if let error { throw error }
    }

    /// `assign(weights:)` on contiguous storage; returns the error instead of throwing so that it
    /// can run inside `withContiguousStorageIfAvailable`.
    @inlinable
    internal mutating func assign<Weight: FixedWidthInteger>(
        contiguousWeights weights: UnsafeBufferPointer<Weight>
    ) -> RangeCoderError? {
        let k = weights.count
        guard Self.symbolCountRange.contains(k) else { return .alphabetSizeOutOfRange(found: k) }
        // Fast pass without early exits, so it vectorises: a sum that cannot have overflowed when
        // every weight is below 2^52 (K ≤ 2^12). Negative weights wrap to values ≥ 2^63 and
        // fall through to the exact pass below, which names the offender.
        var sum: UInt64 = 0
        var bits: UInt64 = 0
        if Weight.bitWidth <= 64 {
            for weight in weights {
                let value = UInt64(truncatingIfNeeded: weight)
                sum &+= value
                bits |= value
            }
        }
        if Weight.bitWidth > 64 || bits >= 1 << 52 {
            sum = 0
            for (index, weight) in weights.enumerated() {
                guard let value = UInt64(exactly: weight) else {
                    return .weightOutOfRange(index: index, value: String(weight))
                }
                let (next, overflow) = sum.addingReportingOverflow(value)
                guard !overflow else { return .weightSumOverflow(count: k) }
                sum = next
            }
        }
        guard sum > 0 else { return .allWeightsZero(count: k) }

        // Units left after every symbol's one-unit floor; at least 2^16 − 4096 > 0.
        let spare = UInt64(Self.total) - UInt64(k)
        prepareStorage(symbolCount: k)
        storage.withUnsafeMutableBufferPointer { cumulative in
            cumulative[0] = 0
            var prefix: UInt64 = 0
            if sum <= UInt64.max / spare {
                // spare · prefix ≤ spare · sum fits in 64 bits.
                let divider = ExactDivider(divisor: sum)
                for i in 0..<k {
                    prefix &+= UInt64(truncatingIfNeeded: weights[i])
                    let share = divider.quotient(spare &* prefix)
                    cumulative[i &+ 1] = UInt32(truncatingIfNeeded: i &+ 1) &+ UInt32(truncatingIfNeeded: share)
                }
            } else {
                // Huge weights: 128-bit products; the quotient is at most `spare`, so it fits.
                for i in 0..<k {
                    prefix &+= UInt64(truncatingIfNeeded: weights[i])
                    let share = sum.dividingFullWidth(spare.multipliedFullWidth(by: prefix)).quotient
                    cumulative[i &+ 1] = UInt32(truncatingIfNeeded: i &+ 1) &+ UInt32(truncatingIfNeeded: share)
                }
            }
        }
        assert(Self.satisfiesInvariants(storage))
        return nil
    }

    // MARK: Lookup (the decoder's hot path)

    /// The symbol whose interval contains `value`, for `value` in `0 ..< total`: the largest `s`
    /// with `cumulative[s] <= value`. Branch-free binary search, ⌈log2 K⌉ steps.
    @inlinable
    public func symbol(containing value: UInt32) -> Int {
        precondition(value < Self.total, "cumulative value \(value) outside 0..<\(Self.total)")
        return storage.withUnsafeBufferPointer { cumulative in
            // The answer lies in base ..< base + n.
            var base = 0
            var n = cumulative.count - 1
            while n > 1 {
                let half = n >> 1
                // 1 when cumulative[base + half] > value (the 32-bit difference borrows; both are
                // at most 2^16), else 0; then step by `half` or by `half >> 63 == 0`. A shift
                // rather than a comparison or a mask: LLVM turns those back into a select, and
                // its x86 backend then into an unpredictable branch (about 2x slower on random
                // symbols); the shift stays branch-free.
                let above = Int(truncatingIfNeeded: (value &- cumulative[base &+ half]) >> 31)
                base &+= half &>> (above &* 63)
                n &-= half
            }
            return base
        }
    }

    // MARK: Internals

    /// Makes `storage` hold `symbolCount + 1` elements, allocating only when the size changes.
    @usableFromInline
    internal mutating func prepareStorage(symbolCount: Int) {
        if storage.count != symbolCount + 1 {
            storage = [UInt32](repeating: 0, count: symbolCount + 1)
        }
    }

    /// True when every count is below the next one (one pass, no early exit, so it vectorises).
    @usableFromInline
    internal static func isStrictlyIncreasing(_ cumulative: [UInt32]) -> Bool {
        cumulative.withUnsafeBufferPointer { c in
            var violations: UInt32 = 0
            for i in 0..<(c.count - 1) { violations |= c[i] >= c[i + 1] ? 1 : 0 }
            return violations == 0
        }
    }

    /// All of the type's invariants; used by debug-build assertions.
    @usableFromInline
    internal static func satisfiesInvariants(_ cumulative: [UInt32]) -> Bool {
        symbolCountRange.contains(cumulative.count - 1) && cumulative.first == 0
            && cumulative.last == total && isStrictlyIncreasing(cumulative)
    }
}

/// Exact floor division of 64-bit numerators by one fixed divisor, with a multiply instead of a
/// hardware divide per call (table construction divides K times by the same weight sum).
///
/// With m = ⌊(2^64 − 1)/d⌋, the estimate q̂ = ⌊n·m / 2^64⌋ satisfies n/d − 1 < q̂ ≤ n/d
/// (because d·m > 2^64 − 1 − d), so q̂ is ⌊n/d⌋ or one less; one correction step makes it exact.
@usableFromInline
internal struct ExactDivider: Sendable {
    @usableFromInline let divisor: UInt64
    @usableFromInline let reciprocal: UInt64

    @inlinable init(divisor: UInt64) {
        precondition(divisor > 0)
        self.divisor = divisor
        self.reciprocal = UInt64.max / divisor
    }

    /// ⌊n / divisor⌋, exactly.
    @inlinable func quotient(_ n: UInt64) -> UInt64 {
        var q = n.multipliedFullWidth(by: reciprocal).high
        // q ≤ n/d, so this cannot underflow.
        let remainder = n &- q &* divisor
        if remainder >= divisor { q &+= 1 }
        return q
    }
}
