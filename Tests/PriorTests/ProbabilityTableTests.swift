import XCTest
import RangeCoder
import SeededRandom
@testable import Prior

/// Floating-point probabilities quantised into frequency tables (for measuring float models; the
/// coder's tables come from the integer prior).
final class ProbabilityTableTests: XCTestCase {
    let total = FrequencyTable.total

    func testProbabilitiesHandComputedCases() throws {
        XCTAssertEqual(try FrequencyTable(probabilities: [0.5, 0.5]).cumulative, [0, 32_768, 65_536])
        // Everything on symbol 0: the others keep their one-unit floor.
        XCTAssertEqual(try FrequencyTable(probabilities: [1.0, 0, 0]).cumulative, [0, 65_534, 65_535, 65_536])
        // Subnormals are exact multiples of the smallest one, so they quantise like 1 : 2.
        XCTAssertEqual(try FrequencyTable(probabilities: [Double.leastNonzeroMagnitude, 2 * .leastNonzeroMagnitude]),
                       try FrequencyTable(probabilities: [1.0, 2.0]))
        // A sum that overflows to infinity is rescaled instead of failing.
        let huge = try FrequencyTable(probabilities: [Double](repeating: .greatestFiniteMagnitude, count: 4))
        XCTAssertEqual(huge.cumulative, [0, 16_384, 32_768, 49_152, 65_536])
        // -0.0 is zero, not negative.
        XCTAssertEqual(try FrequencyTable(probabilities: [-0.0, 1.0]).cumulative, [0, 1, 65_536])
    }

    func testProbabilityTablesAreExactDeterministicAndOrderPreserving() throws {
        var rng = SplitMix64(seed: 14)
        for trial in 0..<400 {
            let k = rng.below(4095) + 2
            var p = (0..<k).map { _ in rng.nextUniform() }.map { Float($0) }
            switch trial % 4 {
            case 1: for i in p.indices where rng.below(2) == 0 { p[i] = 0 }
            case 2: for i in p.indices where rng.below(3) == 0 { p[i] = Float.leastNonzeroMagnitude * Float(rng.below(5)) }
            case 3: p = p.map { $0 * 1e-30 }  // tiny scale: some values become subnormal
            default: break
            }
            if p.allSatisfy({ $0 == 0 }) { p[0] = 1 }

            let table = try FrequencyTable(probabilities: p)
            XCTAssertEqual(try FrequencyTable(probabilities: p), table, "same input, same table")
            XCTAssertEqual(try FrequencyTable(probabilities: p.map(Double.init)), table, "Float and Double agree")
            XCTAssertNoThrow(try FrequencyTable(cumulative: table.cumulative), "a valid table")
            XCTAssertEqual(table.cumulative.last, total)

            let sum = p.reduce(0.0) { $0 + Double($1) }
            let spare = Double(total) - Double(k)
            let order = p.indices.sorted { p[$0] < p[$1] }
            for (a, b) in zip(order, order.dropFirst()) where p[a] < p[b] {
                XCTAssertGreaterThanOrEqual(table.frequency(of: b) + 1, table.frequency(of: a),
                                            "higher probability lost more than one unit (trial \(trial))")
            }
            for s in 0..<k {
                let ideal = spare * Double(p[s]) / sum
                XCTAssertLessThan(abs(Double(table.frequency(of: s)) - 1 - ideal), 1.0 + 1e-9, "trial \(trial) symbol \(s)")
            }
        }
    }

    func testProbabilityErrorsAreSpecific() {
        func error(_ p: [Double]) -> ProbabilityError? {
            do { _ = try FrequencyTable(probabilities: p); return nil } catch { return error }
        }
        XCTAssertEqual(error([0.5, .nan, 0.5]), .isNaN(index: 1))
        XCTAssertEqual(error([0.5, 0.5, -1e-300]), .isNegative(index: 2, value: -1e-300))
        XCTAssertEqual(error([.infinity, 1]), .isInfinite(index: 0))
        XCTAssertEqual(error([0, 0, 0, 0]), .allZero(count: 4))
        XCTAssertEqual(error([1]), .alphabetSizeOutOfRange(found: 1))
        XCTAssertEqual(error([0, 0])?.description, "all 2 probabilities are zero; at least one must be positive")
    }
}
