import SeededRandom
import XCTest
@testable import RangeCoder

final class RangeCoderRoundTripTests: XCTestCase {
    func assertRoundTrip(_ symbols: [Int], _ tables: [FrequencyTable], _ message: String = "",
                         file: StaticString = #filePath, line: UInt = #line) {
        let bytes = encodeStream(symbols, tables)
        do {
            let decoded = try decodeStream(bytes, tables)
            if decoded != symbols {
                let first = zip(decoded, symbols).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                XCTFail("round trip differs first at symbol \(first) of \(symbols.count) \(message)", file: file, line: line)
            }
        } catch {
            XCTFail("decoding threw \(error) \(message)", file: file, line: line)
        }
    }

    func testEmptyStreamIsZeroBytesAndDecoderAcceptsIt() throws {
        var encoder = RangeEncoder()
        XCTAssertEqual(encoder.finish(), [])
        _ = try RangeDecoder(bytes: [UInt8]())
    }

    func testHandComputedStreams() {
        let binary = FrequencyTable(uniformOver: 2)
        // Symbol 0 keeps low = 0, and 0 needs no bytes at all.
        XCTAssertEqual(encodeStream([0], [binary]), [])
        // Symbol 1: low = (2^48 − 1)·2^15 = 0x7FFF_FFFF_FFFF_8000, range = 2^63 + 2^15 − 1;
        // 0x80 followed by zero bytes is the number in the interval with most trailing zeros.
        XCTAssertEqual(encodeStream([1], [binary]), [0x80])
    }

    func testSingleSymbolStreams() throws {
        var rng = SplitMix64(seed: 21)
        for _ in 0..<300 {
            let table = TestTables.randomTable(&rng)
            let symbol = rng.below(table.symbolCount)
            let bytes = encodeStream([symbol], [table])
            XCTAssertLessThanOrEqual(bytes.count, 4, "one symbol of at most 16 bits fits in the flush")
            assertRoundTrip([symbol], [table])
        }
    }

    func testEverySymbolOfAnAlphabetInTurn() throws {
        var rng = SplitMix64(seed: 22)
        for k in [2, 3, 255, 256, 512, 4095, 4096] {
            let tables = [FrequencyTable(uniformOver: k), TestTables.randomTable(&rng, symbolCount: k)]
            for table in tables {
                let symbols = Array(0..<k) + Array((0..<k).reversed())
                assertRoundTrip(symbols, Array(repeating: table, count: symbols.count), "K = \(k)")
            }
        }
    }

    func testExtremeTables() throws {
        var rng = SplitMix64(seed: 23)
        for k in [2, 512, 4096] {
            // One symbol holds total − (K − 1) units, every other symbol one unit; the heavy symbol
            // sits first, in the middle or last (the last symbol takes the rounding remainder).
            for heavy in [0, k / 2, k - 1] {
                var weights = [UInt32](repeating: 0, count: k)
                weights[heavy] = 1
                let table = try FrequencyTable(weights: weights)
                XCTAssertEqual(table.frequency(of: heavy), FrequencyTable.total - UInt32(k - 1))
                // Long runs of the heavy symbol (about 2^-16 … 2^-4 bits each) with rare symbols
                // (16 bits each) sprinkled in, and a burst of rare symbols only.
                var symbols = (0..<50_000).map { _ in rng.below(500) == 0 ? rng.below(k) : heavy }
                symbols += (0..<2_000).map { _ in (heavy + 1 + rng.below(k - 1)) % k }
                symbols += [Int](repeating: heavy, count: 10_000)
                assertRoundTrip(symbols, Array(repeating: table, count: symbols.count), "K = \(k), heavy = \(heavy)")
            }
        }
        // Two symbols, the lightest possible second symbol, coded in every pattern of 12.
        let twoSymbols = try FrequencyTable(cumulative: [0, 65_535, 65_536])
        for pattern in 0..<4096 {
            let symbols = (0..<12).map { (pattern >> $0) & 1 }
            assertRoundTrip(symbols, Array(repeating: twoSymbols, count: 12), "pattern \(pattern)")
        }
    }

    func testRandomStreamsUnderRandomTables() throws {
        var rng = SplitMix64(seed: 24)
        for trial in 0..<150 {
            // A small pool of tables with alphabets of different sizes, one chosen per symbol,
            // like a prior whose distribution changes from symbol to symbol.
            let pool = (0..<(1 + rng.below(8))).map { _ in TestTables.randomTable(&rng) }
            let count = [0, 1, 2, 7, 100, 1_000, 5_000][rng.below(7)]
            var tables: [FrequencyTable] = []
            var symbols: [Int] = []
            for _ in 0..<count {
                let table = pool[rng.below(pool.count)]
                tables.append(table)
                // Mostly the table's own distribution; sometimes any symbol, rare ones included.
                symbols.append(rng.below(4) == 0 ? rng.below(table.symbolCount) : TestTables.sample(table, &rng))
            }
            assertRoundTrip(symbols, tables, "trial \(trial)")
        }
    }

    func testEncoderIsReusableAfterFinish() throws {
        var rng = SplitMix64(seed: 25)
        let table = TestTables.randomTable(&rng, symbolCount: 300)
        let symbols = (0..<1_000).map { _ in TestTables.sample(table, &rng) }
        var encoder = RangeEncoder()
        for s in symbols.reversed() { encoder.encode(symbol: s, table: table) }
        _ = encoder.finish()
        for s in symbols { encoder.encode(symbol: s, table: table) }
        XCTAssertEqual(encoder.finish(), encodeStream(symbols, Array(repeating: table, count: symbols.count)))
    }

    func testDecoderAcceptsSlicesAndNonContiguousCollections() throws {
        var rng = SplitMix64(seed: 27)
        let table = TestTables.randomTable(&rng, symbolCount: 100)
        let tables = [FrequencyTable](repeating: table, count: 500)
        let symbols = tables.map { _ in rng.below(100) }
        let bytes = encodeStream(symbols, tables)
        // A slice that starts at an odd offset of a larger buffer (unaligned word loads).
        let framed = [0xAB, 0xCD, 0xEF] + bytes + [0x12, 0x34]
        let slice = framed[3..<(3 + bytes.count)]
        let lazyBytes = bytes.lazy.map { $0 }
        for decoder in [try RangeDecoder(bytes: slice), try RangeDecoder(bytes: lazyBytes)] {
            var decoder = decoder
            XCTAssertEqual(try tables.map { table throws(RangeCoderError) in try decoder.decode(table: table) }, symbols)
        }
    }

    func testTablesFromNonContiguousWeights() throws {
        let weights: [Int] = [5, 0, 17, 3, 0, 1]
        XCTAssertEqual(try FrequencyTable(weights: weights.lazy.map { $0 }), try FrequencyTable(weights: weights))
        XCTAssertEqual(try FrequencyTable(weights: weights.map(UInt8.init)), try FrequencyTable(weights: weights))
    }

    func testCarryRunsThroughAllOnesWords() {
        var encoder = RangeEncoder()
        encoder.words = [0x1234_5678, 0xFFFF_FFFF, 0xFFFF_FFFF]
        encoder.propagateCarry()
        XCTAssertEqual(encoder.words, [0x1234_5679, 0, 0])
        encoder.words = [7, 0xFFFF_FFFE]
        encoder.propagateCarry()
        XCTAssertEqual(encoder.words, [7, 0xFFFF_FFFF])
    }

    func testOverheadAgainstIdealCodeLength() throws {
        // Realistic tables (K = 512, Laplacian-like, varying widths), symbols drawn from them.
        var rng = SplitMix64(seed: 26)
        let pool = (0..<64).map { _ in TestTables.randomTable(&rng, symbolCount: 512) }
        let count = 200_000
        var tables: [FrequencyTable] = []
        var symbols: [Int] = []
        tables.reserveCapacity(count)
        symbols.reserveCapacity(count)
        for _ in 0..<count {
            let table = pool[rng.below(pool.count)]
            tables.append(table)
            symbols.append(TestTables.sample(table, &rng))
        }
        let bytes = encodeStream(symbols, tables)
        let ideal = TestTables.idealBits(symbols: symbols, tables: tables)
        let actual = Double(bytes.count * 8)
        // The last symbol of each table gets the rounding remainder of the range and the flush
        // leaves out trailing zero bytes, so the stream may come out a few bits under the ideal;
        // far under would mean the ideal is computed wrongly.
        XCTAssertGreaterThan(actual, ideal - 64, "ideal \(ideal) bits, actual \(actual) bits")
        XCTAssertLessThanOrEqual(actual, ideal * 1.001 + 64, "ideal \(ideal) bits, actual \(actual) bits")
        XCTAssertEqual(try decodeStream(bytes, tables), symbols)
    }
}
