import SeededRandom
import XCTest
@testable import RangeCoder

final class FrequencyTableTests: XCTestCase {
    let total = FrequencyTable.total

    // MARK: Raw cumulative counts

    func testCheckedInitAcceptsAValidTableAndKeepsItsCounts() throws {
        let counts: [UInt32] = [0, 1, 40_000, 65_535, 65_536]
        let table = try FrequencyTable(cumulative: counts)
        XCTAssertEqual(table.symbolCount, 4)
        XCTAssertEqual(table.cumulative, counts)
        XCTAssertEqual((0..<4).map { table.frequency(of: $0) }, [1, 39_999, 25_535, 1])
        XCTAssertEqual(FrequencyTable(trustedCumulative: counts), table)
    }

    func testCheckedInitRejectsEachKindOfBrokenTable() {
        func error(_ counts: [UInt32]) -> RangeCoderError? {
            do { _ = try FrequencyTable(cumulative: counts); return nil } catch { return error }
        }
        XCTAssertEqual(error([]), .alphabetSizeOutOfRange(found: 0))
        XCTAssertEqual(error([0, total]), .alphabetSizeOutOfRange(found: 1))
        XCTAssertEqual(error([UInt32](0...4097).map { $0 * 16 }), .alphabetSizeOutOfRange(found: 4097))
        XCTAssertEqual(error([1, 2, total]), .cumulativeDoesNotStartAtZero(found: 1))
        XCTAssertEqual(error([0, 2, total - 1]), .cumulativeTotalMismatch(expected: total, found: total - 1))
        XCTAssertEqual(error([0, 5, 5, total]), .cumulativeNotIncreasing(symbol: 1, low: 5, high: 5))
        XCTAssertEqual(error([0, 9, 5, total]), .cumulativeNotIncreasing(symbol: 1, low: 9, high: 5))
        XCTAssertEqual(error([0, 9, 5, total])?.description,
                       "symbol 1 has cumulative counts 9..5: every symbol needs a frequency of at least 1")
    }

    func testUniformTables() {
        let big = FrequencyTable(uniformOver: 4096)
        XCTAssertTrue((0..<4096).allSatisfy { big.frequency(of: $0) == 16 })
        let three = FrequencyTable(uniformOver: 3)
        // 3 + ⌊65533·i/3⌋: 1 + 21844, 2 + 43688, 65536.
        XCTAssertEqual(three.cumulative, [0, 21_845, 43_690, 65_536])
    }

    // MARK: Integer weights

    func testIntegerWeightsFollowTheCumulativeFloorRule() throws {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<300 {
            let k = TestTables.randomAlphabetSize(&rng)
            // Small weights, weights near 2^32, and weights so large that spare·sum needs 128 bits.
            let magnitude: UInt64 = [UInt64(100), 1 << 32, UInt64.max / 4096][trial % 3]
            var weights = (0..<k).map { _ in rng.next() % magnitude }
            if trial % 7 == 0 { for i in weights.indices where i % 3 != 0 { weights[i] = 0 } }
            if weights.allSatisfy({ $0 == 0 }) { weights[k - 1] = 1 }
            let table = try FrequencyTable(weights: weights)

            // Reference: the rule computed with a 128-bit division for every entry.
            let sum = weights.reduce(0, +)
            let spare = UInt64(total) - UInt64(k)
            var prefix: UInt64 = 0
            var expected: [UInt32] = [0]
            for (i, w) in weights.enumerated() {
                prefix += w
                let share = sum.dividingFullWidth(spare.multipliedFullWidth(by: prefix)).quotient
                expected.append(UInt32(i + 1) + UInt32(share))
            }
            XCTAssertEqual(table.cumulative, expected, "trial \(trial), K = \(k)")
        }
    }

    func testExactDividerAgreesWithDivision() {
        var rng = SplitMix64(seed: 12)
        let divisors: [UInt64] = [1, 2, 3, 65_535, 1 << 32, (1 << 48) - 1, UInt64.max / 65_536, UInt64.max]
        for d in divisors + (0..<200).map({ _ in rng.next() >> UInt64(rng.below(64)) | 1 }) {
            let divider = ExactDivider(divisor: d)
            for n in [0, 1, d - 1, d, d &* 2, UInt64.max, UInt64.max - 1] + (0..<50).map({ _ in rng.next() }) {
                XCTAssertEqual(divider.quotient(n), n / d, "\(n) / \(d)")
            }
        }
    }

    func testIntegerWeightErrorsLeaveTheTableUnchanged() {
        var table = FrequencyTable(uniformOver: 5)
        let before = table
        func error(_ body: (inout FrequencyTable) throws -> Void) -> RangeCoderError? {
            do { try body(&table); return nil } catch { return error as? RangeCoderError }
        }
        XCTAssertEqual(error { try $0.assign(weights: [3, -1, 2]) }, .weightOutOfRange(index: 1, value: "-1"))
        XCTAssertEqual(error { try $0.assign(weights: [0, 0, 0] as [UInt32]) }, .allWeightsZero(count: 3))
        XCTAssertEqual(error { try $0.assign(weights: [UInt64.max, 1]) }, .weightSumOverflow(count: 2))
        XCTAssertEqual(error { try $0.assign(weights: [7] as [Int]) }, .alphabetSizeOutOfRange(found: 1))
        XCTAssertEqual(error { try $0.assign(weights: [Int](repeating: 1, count: 4097)) },
                       .alphabetSizeOutOfRange(found: 4097))
        XCTAssertEqual(table, before)
    }

    func testAssignReusesStorageForTheSameAlphabetSize() throws {
        var table = FrequencyTable(uniformOver: 512)
        let address = table.storage.withUnsafeBufferPointer { $0.baseAddress }
        var rng = SplitMix64(seed: 13)
        for _ in 0..<10 {
            try table.assign(weights: (0..<512).map { _ in UInt32(rng.below(1000)) + 1 })
            try table.assign(weights: TestTables.randomWeights(symbolCount: 512, &rng))
            XCTAssertEqual(table.storage.withUnsafeBufferPointer { $0.baseAddress }, address)
        }
    }

    // MARK: Lookup

    func testSymbolLookupMatchesLinearSearchForEveryValue() throws {
        var rng = SplitMix64(seed: 15)
        let tables = [FrequencyTable(uniformOver: 2), FrequencyTable(uniformOver: 4096),
                      try FrequencyTable(cumulative: [0, 65_534, 65_535, 65_536])]
            + (0..<6).map { _ in TestTables.randomTable(&rng) }
        for table in tables {
            var expected = 0
            for value in 0..<total {
                while table.cumulative[expected + 1] <= value { expected += 1 }
                if table.symbol(containing: value) != expected {
                    XCTFail("value \(value): expected symbol \(expected) in a \(table.symbolCount)-symbol table")
                    break
                }
            }
        }
    }
}
