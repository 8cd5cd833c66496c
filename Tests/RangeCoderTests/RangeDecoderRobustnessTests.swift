import SeededRandom
import XCTest
@testable import RangeCoder

/// The decoder must survive any input: wrong symbols or a `RangeCoderError`, never a trap,
/// an out-of-bounds read or an endless loop.
final class RangeDecoderRobustnessTests: XCTestCase {
    /// Decodes with every table in turn; returns nil when the decoder threw. Symbols out of range
    /// are test failures.
    func decodeAnything(_ bytes: [UInt8], _ tables: [FrequencyTable]) -> [Int]? {
        do {
            let symbols = try decodeStream(bytes, tables)
            for (s, t) in zip(symbols, tables) where !(0..<t.symbolCount).contains(s) {
                XCTFail("decoded symbol \(s) outside 0..<\(t.symbolCount)")
            }
            return symbols
        } catch .streamExhausted(let count) {
            XCTAssertEqual(count, bytes.count)
            return nil
        } catch {
            XCTAssertEqual(error, .invalidStreamStart)
            return nil
        }
    }

    func testInvalidStreamStart() {
        XCTAssertThrowsError(try RangeDecoder(bytes: [UInt8](repeating: 0xFF, count: 8))) {
            XCTAssertEqual($0 as? RangeCoderError, .invalidStreamStart)
        }
        XCTAssertThrowsError(try RangeDecoder(bytes: [UInt8](repeating: 0xFF, count: 20)))
        // Seven 0xFF bytes are padded with a zero byte: a valid start.
        XCTAssertNoThrow(try RangeDecoder(bytes: [UInt8](repeating: 0xFF, count: 7)))
    }

    func testDecodingPastTheEndFeedsZerosThenThrows() throws {
        // Uniform over 4096: 12 bits per symbol, one 32-bit word per 2⅔ symbols.
        let table = FrequencyTable(uniformOver: 4096)
        let tables = [FrequencyTable](repeating: table, count: 100)
        for length in [0, 1, 5, 8, 30] {
            let bytes = [UInt8](repeating: 0x5A, count: length)
            XCTAssertThrowsError(try decodeStream(bytes, tables)) {
                XCTAssertEqual($0 as? RangeCoderError, .streamExhausted(byteCount: length))
            }
        }
        XCTAssertEqual(RangeCoderError.streamExhausted(byteCount: 3).description,
                       "the range-coded stream of 3 bytes ended before all symbols were decoded; "
                       + "the data is truncated or corrupt")
    }

    func testTruncatedStreams() throws {
        var rng = SplitMix64(seed: 31)
        var threw = 0
        for trial in 0..<60 {
            let pool = (0..<3).map { _ in TestTables.randomTable(&rng) }
            let tables = (0..<(50 + rng.below(400))).map { _ in pool[rng.below(pool.count)] }
            let symbols = tables.map { rng.below(3) == 0 ? rng.below($0.symbolCount) : TestTables.sample($0, &rng) }
            let bytes = encodeStream(symbols, tables)
            XCTAssertEqual(decodeAnything(bytes, tables), symbols, "trial \(trial): the whole stream decodes")
            for _ in 0..<50 {
                let cut = rng.below(bytes.count + 1)
                let truncated = Array(bytes.prefix(cut))
                if decodeAnything(truncated, tables) == nil { threw += 1 }
            }
        }
        XCTAssertGreaterThan(threw, 0, "cutting streams short must sometimes exhaust them")
    }

    func testRandomBytes() throws {
        var rng = SplitMix64(seed: 32)
        var threw = 0
        var returned = 0
        for _ in 0..<3_000 {
            let length = rng.below(80)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if rng.below(10) == 0 { bytes = bytes.map { $0 | 0xF0 } }  // near the all-ones start
            let pool = (0..<2).map { _ in TestTables.randomTable(&rng) }
            let tables = (0..<rng.below(300)).map { _ in pool[rng.below(2)] }
            if decodeAnything(bytes, tables) == nil { threw += 1 } else { returned += 1 }
        }
        XCTAssertGreaterThan(threw, 0)
        XCTAssertGreaterThan(returned, 0)
    }

    func testDamagedStreams() throws {
        var rng = SplitMix64(seed: 33)
        let table = TestTables.randomTable(&rng, symbolCount: 256)
        let tables = [FrequencyTable](repeating: table, count: 2_000)
        let symbols = tables.map { TestTables.sample($0, &rng) }
        let bytes = encodeStream(symbols, tables)
        for _ in 0..<500 {
            var damaged = bytes
            for _ in 0..<(1 + rng.below(3)) { damaged[rng.below(damaged.count)] ^= UInt8(1 + rng.below(255)) }
            _ = decodeAnything(damaged, tables)
        }
    }
}
