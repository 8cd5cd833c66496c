import XCTest
import SeededRandom
@testable import RangeCoder

/// Coding from weights (`RangeEncoder.encode(symbol:weights:)`, `RangeDecoder.decode(weights:prefixSums:)`)
/// is coding with `FrequencyTable(weights:)`: the same intervals, hence the same bytes.
final class WeightCodingTests: XCTestCase {
    /// UInt32 weights shaped like the prior's (one dominant symbol, a long tail, zeros, the
    /// largest values a weight can take), at least one positive.
    static func randomWeights(symbolCount k: Int, _ rng: inout SplitMix64) -> [UInt32] {
        var weights: [UInt32]
        switch rng.below(4) {
        case 0: weights = (0..<k).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
        case 1: weights = (0..<k).map { _ in rng.below(3) == 0 ? 0 : UInt32(rng.below(5)) }
        default:
            let shift = Double(rng.below(32))
            weights = TestTables.randomProbabilities(symbolCount: k, &rng).map { UInt32(($0 * pow(2, shift)).rounded(.down)) }
        }
        if weights.allSatisfy({ $0 == 0 }) { weights[rng.below(k)] = 1 }
        return weights
    }

    func testIntervalsAreTheTables() {
        var rng = SplitMix64(seed: 41)
        for _ in 0..<300 {
            let k = TestTables.randomAlphabetSize(&rng)
            let weights = Self.randomWeights(symbolCount: k, &rng)
            let table = try! FrequencyTable(weights: weights)
            let sum = weights.reduce(UInt64(0)) { $0 + UInt64($1) }
            let rule = WeightQuantisation(symbolCount: k, sum: sum)
            var prefix: UInt64 = 0
            for i in 0...k {
                XCTAssertEqual(rule.cumulative(i, prefix: prefix), table.cumulative[i], "K \(k) index \(i)")
                if i < k { prefix += UInt64(weights[i]) }
            }
        }
    }

    func testStreamsAreTheTablesStreams() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<40 {
            let k = TestTables.randomAlphabetSize(&rng)
            let count = rng.inRange(1...400)
            let distributions = (0..<count).map { _ in Self.randomWeights(symbolCount: k, &rng) }
            // Symbols drawn mostly where the weights are, sometimes anywhere (rare symbols).
            let symbols = distributions.map { w -> Int in
                rng.below(5) == 0 ? rng.below(k) : (w.indices.max { w[$0] < w[$1] } ?? 0)
            }
            var withTables = RangeEncoder(), withWeights = RangeEncoder()
            for (weights, symbol) in zip(distributions, symbols) {
                let table = try FrequencyTable(weights: weights)
                withTables.encode(symbol: symbol, table: table)
                let frequency = weights.withUnsafeBufferPointer { withWeights.encode(symbol: symbol, weights: $0) }
                XCTAssertEqual(frequency, table.frequency(of: symbol))
            }
            let bytes = withTables.finish()
            XCTAssertEqual(withWeights.finish(), bytes)

            var byWeights = try RangeDecoder(bytes: bytes), byTables = try RangeDecoder(bytes: bytes)
            let prefix = UnsafeMutablePointer<UInt64>.allocate(capacity: k + 1)
            defer { prefix.deallocate() }
            for (weights, symbol) in zip(distributions, symbols) {
                let decoded = try weights.withUnsafeBufferPointer { try byWeights.decode(weights: $0, prefixSums: prefix) }
                XCTAssertEqual(decoded, symbol)
                XCTAssertEqual(try byTables.decode(table: FrequencyTable(weights: weights)), symbol)
            }
        }
    }

    /// Random bytes decode to the same (wrong) symbols or the same error either way.
    func testGarbageDecodesAlikeEitherWay() throws {
        var rng = SplitMix64(seed: 43)
        for _ in 0..<50 {
            let bytes = (0..<rng.inRange(0...24)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            guard var a = try? RangeDecoder(bytes: bytes), var b = try? RangeDecoder(bytes: bytes) else { continue }
            let k = TestTables.randomAlphabetSize(&rng)
            let prefix = UnsafeMutablePointer<UInt64>.allocate(capacity: k + 1)
            defer { prefix.deallocate() }
            for _ in 0..<200 {
                let weights = Self.randomWeights(symbolCount: k, &rng)
                let x = Result { try weights.withUnsafeBufferPointer { try a.decode(weights: $0, prefixSums: prefix) } }
                let y = Result { try b.decode(table: FrequencyTable(weights: weights)) }
                XCTAssertEqual(try? x.get(), try? y.get())
                if (try? x.get()) == nil { break }
            }
        }
    }
}
