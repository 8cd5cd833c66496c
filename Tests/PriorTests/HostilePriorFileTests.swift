import IntegerPrior
import SafeTensors
import XCTest
import Engine
@testable import Prior

/// A model file is untrusted input: its configuration must not make loading allocate for weights
/// the file does not hold (a fuzzing finding: a forged `prior.config` built a prior of billions of
/// parameters before noticing that the tensors were missing).
final class HostilePriorFileTests: XCTestCase {
    func testMinimumStoredValuesIsALowerBoundCloseToTheRealCount() {
        let configurations = [
            PriorConfiguration(groups: 2, codebookSize: 16, embeddingDimension: 4, channels: 8, blocks: 2, kernelSize: 3, headChannels: 8),
            PriorConfiguration(groups: 1, codebookSize: 7, embeddingDimension: 3, channels: 5, blocks: 1, kernelSize: 5, headChannels: 3),
            PriorConfiguration(groups: 4, codebookSize: 32, embeddingDimension: 8, channels: 16, blocks: 3, kernelSize: 5, headChannels: 16),
        ]
        for configuration in configurations {
            let prior = PixelCNNPrior(configuration: configuration, seed: 1)
            let stored = prior.storedTensors().values.reduce(0) { $0 + $1.elementCount }
            XCTAssertLessThanOrEqual(configuration.minimumStoredValues, stored, "\(configuration)")
            XCTAssertGreaterThan(Double(configuration.minimumStoredValues), 0.8 * Double(stored), "\(configuration)")
        }
    }

    func testConfigurationLargerThanTheWeightsIsRefusedBeforeBuildingThePrior() throws {
        let small = PriorConfiguration(groups: 2, codebookSize: 16, embeddingDimension: 4, channels: 8, blocks: 2, kernelSize: 3, headChannels: 8)
        let prior = PixelCNNPrior(configuration: small, seed: 1)
        var file = SafeTensorsFile(metadata: prior.metadata, tensors: prior.storedTensors())
        var forged = small
        forged.channels = 4096
        forged.kernelSize = 15
        forged.headChannels = 8192
        file.metadata[PixelCNNPrior.configurationKey] = forged.json()
        let found = prior.storedTensors().values.reduce(0) { $0 + $1.elementCount }
        XCTAssertThrowsError(try PixelCNNPrior(file: file)) { error in
            XCTAssertEqual(error as? PriorError, .configurationExceedsWeights(
                key: "prior.config", needed: forged.minimumStoredValues, found: found))
            XCTAssertEqual("\(error)", "metadata \"prior.config\" describes a prior of at least \(forged.minimumStoredValues) "
                           + "weights, but the file holds \(found); the model file is damaged")
        }
        // More blocks than the file has: its tensors are missing, and said so, before anything is built.
        forged = small
        forged.blocks = 64
        file.metadata[PixelCNNPrior.configurationKey] = forged.json()
        XCTAssertThrowsError(try PixelCNNPrior(file: file)) { error in
            guard case .tensor(.missingTensors(let keys))? = error as? PriorError else { return XCTFail() }
            XCTAssertEqual(keys.count, 62 * 7)
            XCTAssertEqual(keys.first, "prior.block10.horizontal.bias")
        }
    }
}
