import RangeCoder

/// Why floating-point probabilities could not be quantised into a frequency table.
public enum ProbabilityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The table would have `found` symbols; tables hold `FrequencyTable.symbolCountRange` symbols.
    case alphabetSizeOutOfRange(found: Int)
    /// Probability `index` is NaN.
    case isNaN(index: Int)
    /// Probability `index` is negative (`value`).
    case isNegative(index: Int, value: Double)
    /// Probability `index` is infinite.
    case isInfinite(index: Int)
    /// Every probability is zero, so there is no distribution to scale.
    case allZero(count: Int)

    public var description: String {
        switch self {
        case .alphabetSizeOutOfRange(let found):
            return "a frequency table needs between \(FrequencyTable.symbolCountRange.lowerBound) and "
                + "\(FrequencyTable.symbolCountRange.upperBound) symbols, found \(found)"
        case .isNaN(let index): return "probability \(index) is NaN; the model produced an invalid distribution"
        case .isNegative(let index, let value):
            return "probability \(index) is negative (\(value)); probabilities must be zero or more"
        case .isInfinite(let index): return "probability \(index) is infinite; probabilities must be finite"
        case .allZero(let count): return "all \(count) probabilities are zero; at least one must be positive"
        }
    }
}

extension FrequencyTable {
    /// Quantises non-negative finite probabilities (any positive sum; zeros and subnormals get the
    /// one-unit floor) by the rule of ``FrequencyTable``: with P_i the sum of the first i values and
    /// S the sum of all, `cumulative[i] = i + ⌊(total − K) · P_i / S⌋`.
    ///
    /// For measuring a float model against its integer twin (the float prior's cost in a real
    /// table); never on the coding path, which takes its tables from the integer prior. The values
    /// are converted to `Double` (exact for `Float` and `Double`) and combined only with exactly
    /// specified IEEE-754 operations in index order (Swift does not contract `a + b * c` into a
    /// fused multiply-add), so the table is the same on every CPU.
    public init<Probabilities: Collection>(probabilities: Probabilities) throws(ProbabilityError)
    where Probabilities.Element: BinaryFloatingPoint {
        let k = probabilities.count
        guard Self.symbolCountRange.contains(k) else { throw .alphabetSizeOutOfRange(found: k) }
        var sum = 0.0
        var index = 0
        for p in probabilities {
            let value = Double(p)
            guard !value.isNaN else { throw .isNaN(index: index) }
            guard value >= 0 else { throw .isNegative(index: index, value: value) }
            guard value.isFinite else { throw .isInfinite(index: index) }
            sum += value
            index += 1
        }
        guard sum > 0 else { throw .allZero(count: k) }
        // Finite values whose sum overflows: scale by 2^-64, exact except for values that become
        // subnormal, which are negligible against a sum this large and keep their one-unit floor.
        var scale = 1.0
        if sum.isInfinite {
            scale = 0x1p-64
            sum = 0
            for p in probabilities { sum += Double(p) * scale }
        }
        let spare = Double(Self.total) - Double(k)  // units left after the one-unit floors
        let spareUnits = Self.total - UInt32(k)
        var cumulative = [UInt32](repeating: 0, count: k + 1)
        var prefix = 0.0
        var i: UInt32 = 0
        for p in probabilities {
            // The same operations in the same order as the sum above, so the last prefix equals
            // `sum` bit for bit and every fraction lies in 0...1.
            prefix += Double(p) * scale
            let share = UInt32(prefix / sum * spare)  // truncation is floor for values >= 0
            i &+= 1
            cumulative[Int(i)] = i &+ min(share, spareUnits)
        }
        cumulative[k] = Self.total  // already equal (fraction 1 gives `spare`); stated for the reader
        self.init(trustedCumulative: cumulative)
    }
}
