import Engine
import RangeCoder
import XCTest
@testable import Prior

/// The integer prior's coding contract: the decoder's incremental evaluation builds exactly the
/// tables of the encoder's batch evaluation, tables respect the coding order, every table is a
/// valid CDF, and a tile survives a trip through the range coder.
final class IntegerPriorCodingTests: XCTestCase {
    private let sizes = [(1, 1), (1, 7), (6, 1), (5, 9), (4, 4)]

    func testIncrementalDecodeBuildsTheBatchTablesBitForBit() {
        var random = TestRandom(seed: 1)
        for groups in [1, 2, 4] {
            for (blocks, kernel) in [(1, 3), (3, 3), (2, 5)] {
                let configuration = smallConfiguration(groups: groups, blocks: blocks, kernelSize: kernel)
                let prior = randomPrior(configuration, seed: random.next()).freeze()
                for (h, w) in sizes {
                    let symbols = random.symbols(groups * h * w, k: configuration.codebookSize)
                    let batch = batchTables(prior, symbols, height: h, width: w)
                    let (incremental, decoded) = incrementalTables(prior, symbols, height: h, width: w)
                    XCTAssertEqual(batch.count, groups * h * w)
                    XCTAssertEqual(decoded, symbols)
                    XCTAssertEqual(incremental, batch, "G \(groups), \(blocks) blocks, k \(kernel), tile \(h)×\(w)")
                }
            }
        }
    }

    func testTablesAreNotUniformSoTheComparisonsMeanSomething() {
        var random = TestRandom(seed: 2)
        let configuration = smallConfiguration(groups: 2)
        let prior = randomPrior(configuration, seed: 7).freeze()
        let symbols = random.symbols(2 * 5 * 5, k: configuration.codebookSize)
        let tables = Set(batchTables(prior, symbols, height: 5, width: 5))
        XCTAssertGreaterThan(tables.count, 40, "tables barely depend on the context")
        XCTAssertFalse(tables.contains(FrequencyTable(uniformOver: configuration.codebookSize).cumulative))
    }

    func testChangingASymbolNeverChangesAnEarlierTable() {
        var random = TestRandom(seed: 3)
        for groups in [1, 3] {
            let configuration = smallConfiguration(groups: groups, blocks: 2)
            let prior = randomPrior(configuration, seed: random.next()).freeze()
            let (h, w) = (5, 6)
            let symbols = random.symbols(groups * h * w, k: configuration.codebookSize)
            let base = batchTables(prior, symbols, height: h, width: w)
            var laterChanged = 0
            for r in 0..<h {
                for c in 0..<w {
                    for g in 0..<groups {
                        var changed = symbols
                        let index = (g * h + r) * w + c
                        changed[index] = (changed[index] + 1 + Int32(random.below(configuration.codebookSize - 1)))
                            % Int32(configuration.codebookSize)
                        let tables = batchTables(prior, changed, height: h, width: w)
                        let order = (r * w + c) * groups + g
                        XCTAssertEqual(Array(tables[...order]), Array(base[...order]),
                                       "symbol (\(r), \(c), g\(g)) changed a table at or before its own")
                        if tables != base { laterChanged += 1 }
                    }
                }
            }
            // Every symbol but the last one coded has a successor that sees it, though the integer
            // network may round a small influence away (saturated gates).
            XCTAssertGreaterThanOrEqual(laterChanged, (groups * h * w - 1) * 9 / 10, "G \(groups)")
        }
    }

    func testEveryTableIsAStrictlyIncreasingCDF() {
        var random = TestRandom(seed: 4)
        let configuration = smallConfiguration(groups: 2, codebookSize: 300)
        let prior = randomPrior(configuration, seed: 11, gain: 6).freeze()
        let symbols = random.symbols(2 * 6 * 6, k: 300)
        var smallest = UInt32.max
        prior.forEachTable(symbols: symbols, height: 6, width: 6) { _, table in
            let cumulative = table.cumulative
            XCTAssertEqual(cumulative.count, 301)
            XCTAssertEqual(cumulative.first, 0)
            XCTAssertEqual(cumulative.last, FrequencyTable.total)
            for s in 0..<300 {
                XCTAssertLessThan(cumulative[s], cumulative[s + 1])
                smallest = min(smallest, cumulative[s + 1] - cumulative[s])
            }
        }
        XCTAssertEqual(smallest, 1, "a peaked prior should leave some symbols at the one-unit floor")
    }

    func testTileRoundTripsThroughTheRangeCoder() throws {
        var random = TestRandom(seed: 5)
        for groups in [1, 4] {
            let configuration = smallConfiguration(groups: groups)
            let prior = randomPrior(configuration, seed: random.next()).freeze()
            let (h, w) = (7, 5)
            let symbols = random.symbols(groups * h * w, k: configuration.codebookSize)
            var encoder = RangeEncoder()
            prior.forEachTable(symbols: symbols, height: h, width: w) { symbol, table in
                encoder.encode(symbol: symbol, table: table)
            }
            let bytes = encoder.finish()
            var decoder = try RangeDecoder(bytes: bytes)
            let decoded = try prior.decode(height: h, width: w) { table in try decoder.decode(table: table) }
            XCTAssertEqual(decoded, symbols)
            let bits = prior.bits(symbols: symbols, height: h, width: w)
            XCTAssertLessThanOrEqual(Double(bytes.count * 8), bits + 64)
            XCTAssertGreaterThanOrEqual(Double(bytes.count * 8), bits - 1)
        }
    }

    func testBitsAddsTheCodeLengthsOfTheTables() {
        var random = TestRandom(seed: 6)
        let configuration = smallConfiguration(groups: 2)
        let prior = randomPrior(configuration, seed: 9).freeze()
        let symbols = random.symbols(2 * 3 * 4, k: configuration.codebookSize)
        var expected = 0.0
        prior.forEachTable(symbols: symbols, height: 3, width: 4) { symbol, table in
            expected += -log2(Double(table.frequency(of: symbol)) / 65536)
        }
        XCTAssertEqual(prior.bits(symbols: symbols, height: 3, width: 4), expected, accuracy: 1e-9)
        XCTAssertGreaterThan(expected, 0)
    }
}
