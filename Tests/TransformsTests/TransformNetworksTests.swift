import XCTest
import Engine
import SeededRandom
@testable import Transforms

/// The codec's analysis and synthesis networks: shapes and the PyTorch parameter names model files use.
final class TransformNetworksTests: XCTestCase {
    func testReferenceTransformShapesAndNames() {
        var random = TestRandom(seed: 24)
        let analysis = TransformNetworks.makeAnalysis(stride: 8, width: 8, latentChannels: 6, using: &random)
        let synthesis = TransformNetworks.makeSynthesis(stride: 8, width: 8, latentChannels: 6, using: &random)
        let latent = analysis.forward(Tensor(shape: [1, 3, 16, 24], data: (0..<(3 * 16 * 24)).map { _ in random.float(in: -1...1) }))
        XCTAssertEqual(latent.shape, [1, 6, 2, 3])
        XCTAssertEqual(synthesis.forward(latent).shape, [1, 3, 16, 24])
        XCTAssertEqual(analysis.parameters.map(\.name), [
            "analysis.0.weight", "analysis.0.bias", "analysis.1.beta", "analysis.1.gamma",
            "analysis.2.weight", "analysis.2.bias", "analysis.3.beta", "analysis.3.gamma",
            "analysis.4.weight", "analysis.4.bias", "analysis.5.beta", "analysis.5.gamma",
            "analysis.6.weight", "analysis.6.bias",
        ])
        XCTAssertEqual(synthesis.parameters.map(\.name), [
            "synthesis.0.weight", "synthesis.0.bias", "synthesis.1.beta", "synthesis.1.gamma",
            "synthesis.2.weight", "synthesis.2.bias", "synthesis.4.beta", "synthesis.4.gamma",
            "synthesis.5.weight", "synthesis.5.bias", "synthesis.7.beta", "synthesis.7.gamma",
            "synthesis.8.weight", "synthesis.8.bias",
        ])
        XCTAssertEqual(synthesis.parameters.first { $0.name == "synthesis.2.weight" }?.value.shape, [32, 8, 3, 3])
    }
}
