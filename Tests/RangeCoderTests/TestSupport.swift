import SeededRandom
import Foundation
@testable import RangeCoder

/// Draws of the range-coder tests, on the package's one seeded generator.
extension SplitMix64 {

    /// Uniform in range.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { nextUniform() }
}

enum TestTables {
    /// An alphabet size between 2 and 4096, log-uniform so that small alphabets are common too.
    static func randomAlphabetSize(_ rng: inout SplitMix64) -> Int {
        let bits = rng.unit() * 11 + 1  // 2^1 ... 2^12
        return min(4096, max(2, Int(pow(2.0, bits))))
    }

    /// A random distribution: a discretised Laplacian of random centre and width (width from
    /// 0.05, nearly deterministic, to 4K, nearly uniform), or fully random weights.
    static func randomProbabilities(symbolCount k: Int, _ rng: inout SplitMix64) -> [Double] {
        if rng.below(4) == 0 {
            return (0..<k).map { _ in rng.unit() }
        }
        let centre = rng.unit() * Double(k)
        let width = 0.05 * pow(80.0 * Double(k), rng.unit())
        return (0..<k).map { exp(-abs(Double($0) - centre) / width) }
    }

    /// Integer weights shaped like ``randomProbabilities(symbolCount:_:)`` (scaled by 2^40), at least one positive.
    static func randomWeights(symbolCount k: Int, _ rng: inout SplitMix64) -> [UInt64] {
        var weights = randomProbabilities(symbolCount: k, &rng).map { UInt64(($0 * 0x1p40).rounded(.down)) }
        if weights.allSatisfy({ $0 == 0 }) { weights[0] = 1 }
        return weights
    }

    static func randomTable(_ rng: inout SplitMix64, symbolCount: Int? = nil) -> FrequencyTable {
        let k = symbolCount ?? randomAlphabetSize(&rng)
        return try! FrequencyTable(weights: randomWeights(symbolCount: k, &rng))
    }

    /// A symbol drawn from the table's own distribution.
    static func sample(_ table: FrequencyTable, _ rng: inout SplitMix64) -> Int {
        table.symbol(containing: UInt32(rng.below(Int(FrequencyTable.total))))
    }

    /// Σ −log2(frequency / total) over the coded symbols.
    static func idealBits(symbols: [Int], tables: [FrequencyTable]) -> Double {
        var bits = 0.0
        for (s, t) in zip(symbols, tables) {
            bits -= log2(Double(t.frequency(of: s)) / Double(FrequencyTable.total))
        }
        return bits
    }
}

/// Encodes `symbols[i]` under `tables[i]`.
func encodeStream(_ symbols: [Int], _ tables: [FrequencyTable]) -> [UInt8] {
    var encoder = RangeEncoder()
    for (s, t) in zip(symbols, tables) { encoder.encode(symbol: s, table: t) }
    return encoder.finish()
}

/// Decodes `tables.count` symbols.
func decodeStream(_ bytes: [UInt8], _ tables: [FrequencyTable]) throws(RangeCoderError) -> [Int] {
    var decoder = try RangeDecoder(bytes: bytes)
    var symbols: [Int] = []
    symbols.reserveCapacity(tables.count)
    for t in tables { symbols.append(try decoder.decode(table: t)) }
    return symbols
}
