import IntegerPrior
import SafeTensors
import Engine
import XCTest
@testable import Prior

final class PixelCNNPriorTests: XCTestCase {
    func testLogitsOfAPositionDependOnlyOnEarlierSymbolsAndSeeTheWholeContext() {
        var random = TestRandom(seed: 21)
        let groups = 2
        let configuration = smallConfiguration(groups: groups, blocks: 2)
        let prior = randomPrior(configuration, seed: 5)
        let (h, w, k) = (5, 6, configuration.codebookSize)
        let symbols = random.symbols(groups * h * w, k: k)
        let base = prior.logits(symbols: symbols, batch: 1, height: h, width: w)
        XCTAssertEqual(base.shape, [1, groups * k, h, w])
        let reach = 2  // blocks · (k / 2)
        for (ir, ic, ig) in [(2, 3, 0), (2, 3, 1), (0, 0, 0), (4, 5, 1), (3, 0, 1)] {
            var changed = symbols
            changed[(ig * h + ir) * w + ic] = (changed[(ig * h + ir) * w + ic] + 5) % Int32(k)
            let y = prior.logits(symbols: changed, batch: 1, height: h, width: w)
            for r in 0..<h {
                for c in 0..<w {
                    for g in 0..<groups {
                        let differs = (g * k..<(g + 1) * k).contains { channel in
                            y.data[(channel * h + r) * w + c] != base.data[(channel * h + r) * w + c]
                        }
                        let earlier = ir < r || (ir == r && ic < c) || (ir == r && ic == c && ig < g)
                        let inField = (ir < r && r - ir <= reach && abs(ic - c) <= reach)
                            || (ir == r && c - ic <= reach && ic <= c)
                        if !earlier || !inField {
                            XCTAssertFalse(differs, "input (\(ir), \(ic), g\(ig)) reached output (\(r), \(c), g\(g))")
                        } else {
                            XCTAssertTrue(differs, "input (\(ir), \(ic), g\(ig)) should reach output (\(r), \(c), g\(g))")
                        }
                    }
                }
            }
        }
    }

    func testTrainingLowersTheCrossEntropyFarBelowUniform() {
        var random = TestRandom(seed: 22)
        let configuration = PriorConfiguration(groups: 2, codebookSize: 16, embeddingDimension: 4, channels: 16,
                                               blocks: 2, kernelSize: 3, headChannels: 16)
        let prior = PixelCNNPrior(configuration: configuration, seed: 3)
        let held = structuredSymbols(batch: 4, groups: 2, k: 16, height: 8, width: 8, using: &random)
        let before = prior.crossEntropyBits(symbols: held, batch: 4, height: 8, width: 8) / Double(held.count)
        XCTAssertEqual(before, 4, accuracy: 0.3, "a fresh prior should be close to uniform over 16 symbols")
        train(prior, steps: 300, batch: 8, size: 8, learningRate: 1e-2, using: &random)
        let after = prior.crossEntropyBits(symbols: held, batch: 4, height: 8, width: 8) / Double(held.count)
        XCTAssertLessThan(after, 2.5, "bits per symbol \(before) → \(after)")
    }

    func testTrainStepReportsTheCrossEntropyItDifferentiates() {
        var random = TestRandom(seed: 23)
        let configuration = smallConfiguration(groups: 2)
        let prior = randomPrior(configuration, seed: 4, gain: 1)
        let symbols = random.symbols(2 * 2 * 3 * 4, k: configuration.codebookSize)
        let total = prior.crossEntropyBits(symbols: symbols, batch: 2, height: 3, width: 4)
        let step = prior.trainStep(symbols: symbols, batch: 2, height: 3, width: 4)
        XCTAssertEqual(Double(step), total / Double(symbols.count), accuracy: 1e-4)
        let gradient = prior.parameters.reduce(0.0) { $0 + $1.gradient.data.reduce(0.0) { $0 + Double(abs($1)) } }
        XCTAssertGreaterThan(gradient, 0)
    }

    func testFileRoundTripKeepsTheModel() throws {
        var random = TestRandom(seed: 24)
        let configuration = smallConfiguration(groups: 2)
        let prior = randomPrior(configuration, seed: 8)
        var file = SafeTensorsFile(metadata: prior.metadata, tensors: prior.storedTensors())
        file.tensors["analysis.0.weight"] = StoredTensor(floats: [1, 2], shape: [2])  // another component's tensor
        let loaded = try PixelCNNPrior(file: SafeTensorsFile(bytes: file.serialized()))
        XCTAssertEqual(loaded.configuration, configuration)
        let symbols = random.symbols(2 * 4 * 4, k: configuration.codebookSize)
        XCTAssertEqual(loaded.logits(symbols: symbols, batch: 1, height: 4, width: 4),
                       prior.logits(symbols: symbols, batch: 1, height: 4, width: 4))
        XCTAssertEqual(Set(prior.storedTensors().keys), Set(prior.parameters.map(\.name)))
        XCTAssertTrue(prior.storedTensors().keys.allSatisfy { $0.hasPrefix("prior.") && !$0.hasPrefix("prior_int.") })
    }

    func testLoadingNamesWhatIsMissing() {
        let prior = PixelCNNPrior(configuration: smallConfiguration(groups: 1), seed: 1)
        var tensors = prior.storedTensors()
        tensors["prior.head.logits.bias"] = nil
        XCTAssertThrowsError(try PixelCNNPrior(file: SafeTensorsFile(metadata: prior.metadata, tensors: tensors))) { error in
            XCTAssertEqual(error as? PriorError, .tensor(.missingTensors(["prior.head.logits.bias"])))
        }
        XCTAssertThrowsError(try PixelCNNPrior(file: SafeTensorsFile(tensors: prior.storedTensors()))) { error in
            XCTAssertEqual(error as? PriorError, .missingMetadata(key: "prior.config"))
            XCTAssertEqual((error as? PriorError)?.description,
                           "the model file has no \"prior.config\" metadata; it holds no prior (train one with `vqcodec train prior`)")
        }
    }

    func testConfigurationValidationNamesTheField() {
        XCTAssertNoThrow(try PriorConfiguration().validate())
        let cases: [(PriorConfiguration, PriorError)] = [
            (PriorConfiguration(groups: 3, channels: 64), .invalidConfiguration(field: "channels", value: 64, expected: "a multiple of groups (3) up to 4096")),
            (PriorConfiguration(codebookSize: 1), .invalidConfiguration(field: "codebookSize", value: 1, expected: "2…4096")),
            (PriorConfiguration(kernelSize: 4), .invalidConfiguration(field: "kernelSize", value: 4, expected: "odd, 3…15")),
            (PriorConfiguration(blocks: 0), .invalidConfiguration(field: "blocks", value: 0, expected: "1…64")),
            (PriorConfiguration(headChannels: 130), .invalidConfiguration(field: "headChannels", value: 130, expected: "a multiple of groups (4) up to 8192")),
        ]
        for (configuration, expected) in cases {
            XCTAssertThrowsError(try configuration.validate()) { XCTAssertEqual($0 as? PriorError, expected) }
        }
        XCTAssertEqual(PriorError.invalidConfiguration(field: "blocks", value: 0, expected: "1…64").description,
                       "prior configuration: blocks is 0, expected 1…64")
    }
}
