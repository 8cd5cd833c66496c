/// Everything that can go wrong in the `RangeCoder` module that is not a programmer mistake:
/// untrusted frequency tables (counts or weights read from a file or produced by a model)
/// and damaged or truncated coded streams. Programmer mistakes (a symbol outside its table, a
/// "trusted" table that is not a CDF) are preconditions instead.
///
/// Each case carries the facts a user needs; `description` turns them into a sentence.
public enum RangeCoderError: Error, Equatable, Sendable, CustomStringConvertible {
    // MARK: Frequency tables

    /// The table would have `found` symbols; tables hold `FrequencyTable.symbolCountRange` symbols.
    case alphabetSizeOutOfRange(found: Int)
    /// Raw cumulative counts must start at 0.
    case cumulativeDoesNotStartAtZero(found: UInt32)
    /// Raw cumulative counts must end at `FrequencyTable.total`.
    case cumulativeTotalMismatch(expected: UInt32, found: UInt32)
    /// Symbol `symbol` would get frequency `high - low` < 1 (`cumulative[symbol] = low`,
    /// `cumulative[symbol + 1] = high`): every symbol needs at least one unit to stay codable.
    case cumulativeNotIncreasing(symbol: Int, low: UInt32, high: UInt32)
    /// Every weight is zero, so there is no distribution to scale.
    case allWeightsZero(count: Int)
    /// Integer weight `index` is negative or does not fit in 64 bits (`value` is its decimal text).
    case weightOutOfRange(index: Int, value: String)
    /// The integer weights add up to more than 2^64 − 1.
    case weightSumOverflow(count: Int)

    // MARK: Coded streams

    /// The decoder needed more words than the stream holds, even after the zero padding every
    /// finished stream may legitimately be read into (`RangeDecoder.paddingWords` words).
    case streamExhausted(byteCount: Int)
    /// The first eight bytes of the stream are all 0xFF, a value no encoder can produce.
    case invalidStreamStart

    public var description: String {
        switch self {
        case .alphabetSizeOutOfRange(let found):
            return "a frequency table needs between \(FrequencyTable.symbolCountRange.lowerBound) and "
                + "\(FrequencyTable.symbolCountRange.upperBound) symbols, found \(found)"
        case .cumulativeDoesNotStartAtZero(let found):
            return "cumulative frequency counts must start at 0, found \(found)"
        case .cumulativeTotalMismatch(let expected, let found):
            return "cumulative frequency counts must end at \(expected), found \(found)"
        case .cumulativeNotIncreasing(let symbol, let low, let high):
            return "symbol \(symbol) has cumulative counts \(low)..\(high): every symbol needs a frequency of at least 1"
        case .allWeightsZero(let count):
            return "all \(count) weights are zero; at least one must be positive"
        case .weightOutOfRange(let index, let value):
            return "weight \(index) is \(value); integer weights must lie in 0...\(UInt64.max)"
        case .weightSumOverflow(let count):
            return "the \(count) integer weights add up to more than \(UInt64.max); scale them down"
        case .streamExhausted(let byteCount):
            return "the range-coded stream of \(byteCount) bytes ended before all symbols were decoded; "
                + "the data is truncated or corrupt"
        case .invalidStreamStart:
            return "the range-coded stream starts with eight 0xFF bytes, which no encoder writes; the data is corrupt"
        }
    }
}
