import IntegerPrior
import Engine
import RangeCoder
import XCTest
@testable import Prior

/// What freezing costs in rate. Two comparisons on held-out symbols of a trained prior:
/// - against the float model's probabilities quantised to the same 2^16-unit tables
///   (`FrequencyTable(probabilities:)`): the cost of the integer network alone;
/// - against the float model's cross-entropy: everything, including the tables' one-unit floor,
///   which can also gain (it caps the cost of a symbol the float model deems nearly impossible).
final class IntegerPriorRateTests: XCTestCase {
    func testIntegerTablesCostLessThanOnePercentOverTheFloatModel() {
        var random = TestRandom(seed: 41)
        let (g, k) = (2, 64)
        let configuration = PriorConfiguration(groups: g, codebookSize: k, embeddingDimension: 4, channels: 16,
                                               blocks: 2, kernelSize: 3, headChannels: 16)
        let prior = PixelCNNPrior(configuration: configuration, seed: 5)
        train(prior, steps: 300, batch: 8, size: 8, learningRate: 1e-2, using: &random)
        let (h, w) = (16, 16)
        let held = structuredSymbols(batch: 1, groups: g, k: k, height: h, width: w, using: &random)
        let floatBits = prior.crossEntropyBits(symbols: held, batch: 1, height: h, width: w)
        XCTAssertLessThan(floatBits / Double(held.count), 4, "the prior did not learn the structure (uniform is 6 bits)")

        // The float model's probabilities through 2^16-unit tables.
        let logits = prior.logits(symbols: held, batch: 1, height: h, width: w)
        var quantisedBits = 0.0
        for group in 0..<g {
            for p in 0..<h * w {
                let z = (0..<k).map { Double(logits.data[(group * k + $0) * h * w + p]) }
                let top = z.max()!
                let table = try! FrequencyTable(probabilities: z.map { exp($0 - top) })
                quantisedBits -= log2(Double(table.frequency(of: Int(held[group * h * w + p]))) / 65536)
            }
        }
        for weightBits in [16, 8] {
            let integerBits = PriorFreezer(prior: prior, weightBits: weightBits).freeze()
                .bits(symbols: held, height: h, width: w)
            let networkCost = integerBits / quantisedBits - 1
            let totalCost = integerBits / floatBits - 1
            XCTAssertLessThan(abs(networkCost), 0.005, "\(weightBits)-bit weights: \(integerBits) bits, quantised float \(quantisedBits)")
            XCTAssertLessThan(totalCost, 0.01, "\(weightBits)-bit weights: \(integerBits) bits, float \(floatBits)")
        }
    }
}
