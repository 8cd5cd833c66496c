import SafeTensors
import XCTest
import Engine
@testable import Transforms

/// A model file is untrusted input: its configuration must not make loading allocate for weights
/// the file does not hold (a fuzzing finding: a forged `vqvae.config` of width 1024 made loading
/// build a 1.2 GB model, for 88 s, before noticing that the tensors were missing).
final class HostileModelFileTests: XCTestCase {
    func testMinimumStoredValuesIsALowerBoundCloseToTheRealCount() {
        let configurations = [
            VQVAEConfiguration(stride: 8, width: 8, latentChannels: 8, groups: 2, codebookSize: 16),
            VQVAEConfiguration(stride: 2, width: 5, latentChannels: 3, groups: 1, codebookSize: 2),
            VQVAEConfiguration(stride: 16, width: 12, latentChannels: 16, groups: 4, codebookSize: 64),
        ]
        for configuration in configurations {
            let model = VQVAE(configuration: configuration, seed: 1)
            let stored = model.storedTensors().values.reduce(0) { $0 + $1.elementCount }
            XCTAssertLessThanOrEqual(configuration.minimumStoredValues, stored, "\(configuration)")
            XCTAssertGreaterThan(Double(configuration.minimumStoredValues), 0.8 * Double(stored), "\(configuration)")
        }
    }

    func testConfigurationLargerThanTheWeightsIsRefusedBeforeBuildingTheModel() throws {
        let small = VQVAEConfiguration(stride: 8, width: 8, latentChannels: 8, groups: 2, codebookSize: 16)
        let model = VQVAE(configuration: small, seed: 1)
        var file = SafeTensorsFile(metadata: model.metadata, tensors: model.storedTensors())
        let forged = VQVAEConfiguration(stride: 8, width: 1024, latentChannels: 1024, groups: 2, codebookSize: 16)
        file.metadata[VQVAE.configurationKey] = forged.json
        let found = model.storedTensors().values.reduce(0) { $0 + $1.elementCount }
        XCTAssertThrowsError(try VQVAE(file: file)) { error in
            XCTAssertEqual(error as? TransformsError, .configurationExceedsWeights(
                key: "vqvae.config", needed: forged.minimumStoredValues, found: found))
            XCTAssertEqual("\(error)", "metadata \"vqvae.config\" describes a VQ-VAE of at least \(forged.minimumStoredValues) "
                           + "weights, but the file holds \(found); the model file is damaged")
        }
    }
}
