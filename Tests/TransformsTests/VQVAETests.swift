import SafeTensors
import SeededRandom
import XCTest
import Engine
import Quantizer
@testable import Transforms

/// The tests draw from the package's one seeded generator.
typealias TestRandom = SplitMix64

final class VQVAETests: XCTestCase {
    let tiny = VQVAEConfiguration(stride: 8, width: 16, latentChannels: 8, groups: 2, codebookSize: 16)

    /// Smooth ramps with a bright square, different per image, values in [0, 1].
    func images(_ n: Int, height: Int, width: Int, seed: UInt64) -> Tensor {
        var random = TestRandom(seed: seed)
        var t = Tensor(zeros: [n, 3, height, width])
        for b in 0..<n {
            let slopes = (0..<3).map { _ in Float.random(in: -0.01...0.01, using: &random) }
            let (sx, sy) = (Int.random(in: 0..<(width / 2), using: &random), Int.random(in: 0..<(height / 2), using: &random))
            for c in 0..<3 { for y in 0..<height { for x in 0..<width {
                let square: Float = (x >= sx && x < sx + 8 && y >= sy && y < sy + 8) ? 0.3 : 0
                t.data[((b * 3 + c) * height + y) * width + x] = min(1, max(0, 0.4 + slopes[c] * Float(x + y) + square))
            } } }
        }
        return t
    }

    func trained(steps: Int) -> VQVAE {
        let model = VQVAE(configuration: tiny, seed: 5, name: "tiny test")
        let adam = Adam(parameters: model.parameters, learningRate: 1e-3)
        for step in 0..<steps {
            for p in model.parameters { p.zeroGradient() }
            _ = model.trainStep(images: images(2, height: 16, width: 16, seed: UInt64(step)), randomSeed: UInt64(step))
            adam.step()
        }
        return model
    }

    func roundTrip(_ model: VQVAE, includeTrainingState: Bool) throws -> VQVAE {
        let file = SafeTensorsFile(metadata: model.metadata,
                                   tensors: model.storedTensors(dtype: .f32, includeTrainingState: includeTrainingState))
        return try VQVAE(file: SafeTensorsFile(bytes: file.serialized()))
    }

    func testSaveLoadRoundTripGivesIdenticalSymbolsAndReconstructions() throws {
        let model = trained(steps: 3)
        let probe = images(2, height: 24, width: 32, seed: 99)
        let symbols = model.symbols(images: probe)
        let reconstruction = model.reconstruct(symbols: symbols, batch: 2, height: 3, width: 4)
        for state in [false, true] {
            let loaded = try roundTrip(model, includeTrainingState: state)
            XCTAssertEqual(loaded.configuration, tiny)
            XCTAssertEqual(loaded.name, "tiny test")
            XCTAssertEqual(loaded.codebooks, model.codebooks)
            XCTAssertEqual(loaded.symbols(images: probe), symbols, "training state \(state)")
            XCTAssertEqual(loaded.reconstruct(symbols: symbols, batch: 2, height: 3, width: 4), reconstruction)
        }
    }

    func testCheckpointRoundTripContinuesTrainingIdentically() throws {
        let model = trained(steps: 4)
        let loaded = try roundTrip(model, includeTrainingState: true)
        XCTAssertEqual(loaded.quantizer.clusterSize, model.quantizer.clusterSize)
        XCTAssertEqual(loaded.quantizer.clusterSum, model.quantizer.clusterSum)
        XCTAssertEqual(loaded.quantizer.stepsUnused, model.quantizer.stepsUnused)
        let batch = images(2, height: 16, width: 16, seed: 1234)
        for p in model.parameters + loaded.parameters { p.zeroGradient() }
        let a = model.trainStep(images: batch, randomSeed: 7)
        let b = loaded.trainStep(images: batch, randomSeed: 7)
        XCTAssertEqual(a.mse, b.mse)
        XCTAssertEqual(a.symbols, b.symbols)
        XCTAssertEqual(model.codebooks, loaded.codebooks, "EMA updates agree")
        for (p, q) in zip(model.parameters, loaded.parameters) { XCTAssertTrue(p.gradient == q.gradient, "gradient of \(p.name)") }
    }

    func testCodingFileHoldsOnlyWhatCodingNeeds() {
        let model = trained(steps: 1)
        let coding = Set(model.storedTensors(dtype: .f32, includeTrainingState: false).keys)
        XCTAssertEqual(coding, Set(model.parameters.map(\.name) + ["quantizer.codebook"]))
        XCTAssertTrue(coding.allSatisfy { $0.hasPrefix("analysis.") || $0.hasPrefix("synthesis.") || $0 == "quantizer.codebook" })
        let checkpoint = Set(model.storedTensors(dtype: .f32, includeTrainingState: true).keys)
        XCTAssertEqual(checkpoint.subtracting(coding),
                       ["quantizer.cluster_size", "quantizer.cluster_sum", "quantizer.steps_unused"])
        let codebook = model.storedTensors(dtype: .bf16, includeTrainingState: false)["quantizer.codebook"]!
        XCTAssertEqual(codebook.dtype, .f32, "the codebook stays F32 whatever the transforms' dtype")
        XCTAssertEqual(codebook.shape, [2, 16, 4])
        XCTAssertEqual(model.metadata["vqvae.config"],
                       #"{"codebookSize":16,"groups":2,"latentChannels":8,"stride":8,"width":16}"#)
        XCTAssertEqual(model.metadata["name"], "tiny test")
    }

    /// The synthesis's vector–Jacobian product: for L = Σ r ⊙ ŝ the gradient with respect to the
    /// latent matches central finite differences, and the parameters' gradients stay untouched.
    func testSynthesisGradientMatchesFiniteDifferences() {
        let model = trained(steps: 3)
        var random = TestRandom(seed: 31)
        let latent = Tensor(shape: [1, 8, 3, 4], data: (0..<96).map { _ in Float.random(in: -1...1, using: &random) })
        let weights = (0..<(3 * 24 * 32)).map { _ in Float.random(in: -1...1, using: &random) }
        let before = model.parameters.map(\.gradient)
        let gradient = model.synthesisGradient(latent: latent) { reconstruction in
            XCTAssertEqual(reconstruction.shape, [1, 3, 24, 32])
            return Tensor(shape: reconstruction.shape, data: weights)
        }
        XCTAssertEqual(model.parameters.map(\.gradient), before, "no parameter gradient accumulates")
        var lossValue = 0.0
        func loss(_ x: Tensor) -> Double {
            let out = model.synthesisGradient(latent: x) { r in
                var sum = 0.0
                for i in 0..<r.count { sum += Double(r.data[i]) * Double(weights[i]) }
                lossValue = sum
                return Tensor(zeros: r.shape)
            }
            _ = out
            return lossValue
        }
        for index in [0, 13, 50, 95] {
            var plus = latent, minus = latent
            plus.data[index] += 1e-2
            minus.data[index] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            XCTAssertEqual(Double(gradient.data[index]), numeric, accuracy: 0.02 * max(1, abs(numeric)), "component \(index)")
        }
    }

    func testSymbolsAreShapedByTheStrideAndInRange() {
        let model = trained(steps: 2)
        let symbols = model.symbols(images: images(3, height: 40, width: 24, seed: 3))
        XCTAssertEqual(symbols.count, 3 * 2 * 5 * 3)
        XCTAssertTrue(symbols.allSatisfy { $0 >= 0 && $0 < 16 })
        let reconstruction = model.reconstruct(symbols: symbols, batch: 3, height: 5, width: 3)
        XCTAssertEqual(reconstruction.shape, [3, 3, 40, 24])
        XCTAssertTrue(reconstruction.data.allSatisfy(\.isFinite))
    }

    func testStride16HalvesTheLatentGrid() {
        let config = VQVAEConfiguration(stride: 16, width: 8, latentChannels: 6, groups: 3, codebookSize: 4)
        let model = VQVAE(configuration: config, seed: 1)
        _ = model.trainStep(images: images(1, height: 32, width: 48, seed: 4))
        XCTAssertEqual(model.symbols(images: images(1, height: 32, width: 48, seed: 5)).count, 3 * 2 * 3)
    }

    func testConfigurationValidationNamesTheField() {
        XCTAssertNil(tiny.problem)
        XCTAssertEqual(VQVAEConfiguration(stride: 12).problem, "stride must be a power of two from 2 to 64, found 12")
        XCTAssertEqual(VQVAEConfiguration(latentChannels: 30, groups: 4).problem,
                       "latent channels (30) must be a multiple of groups (4)")
        XCTAssertEqual(VQVAEConfiguration(codebookSize: 1).problem, "codebook size must be 2 to 65536, found 1")
        XCTAssertEqual(VQVAEConfiguration(json: tiny.json), tiny)
        XCTAssertNil(VQVAEConfiguration(json: #"{"stride":8}"#))
    }

    func testLoadingErrorsNameWhatIsWrong() throws {
        let model = trained(steps: 1)
        let good = SafeTensorsFile(metadata: model.metadata, tensors: model.storedTensors(dtype: .f32, includeTrainingState: false))

        var file = good
        file.metadata["vqvae.config"] = nil
        XCTAssertThrowsError(try VQVAE(file: file)) { error in
            XCTAssertEqual(error as? TransformsError, .missingMetadata(key: "vqvae.config"))
            XCTAssertEqual("\(error)", "the model file has no metadata \"vqvae.config\"; it was not written by vqcodec's VQ-VAE training, or is damaged")
        }

        file = good
        file.metadata["vqvae.config"] = #"{"codebookSize":16,"groups":3,"latentChannels":8,"stride":8,"width":16}"#
        XCTAssertThrowsError(try VQVAE(file: file)) { error in
            XCTAssertEqual("\(error)", "metadata \"vqvae.config\" is not a usable VQ-VAE configuration (latent channels (8) must be a multiple of groups (3)): {\"codebookSize\":16,\"groups\":3,\"latentChannels\":8,\"stride\":8,\"width\":16}")
        }

        file = good
        file.tensors["quantizer.codebook"] = StoredTensor(floats: [Float](repeating: 0, count: 2 * 8 * 4), shape: [2, 8, 4])
        XCTAssertThrowsError(try VQVAE(file: file)) { error in
            XCTAssertEqual(error as? TransformsError, .weights(.shapeMismatch(key: "quantizer.codebook", expected: [2, 16, 4], found: [2, 8, 4])))
        }

        file = good
        file.tensors["analysis.0.weight"] = nil
        XCTAssertThrowsError(try VQVAE(file: file)) { error in
            XCTAssertEqual(error as? TransformsError, .weights(.missingTensors(["analysis.0.weight"])))
        }

        file = good
        file.tensors["synthesis.99.weight"] = StoredTensor(floats: [1], shape: [1])
        file.tensors["prior.0.weight"] = StoredTensor(floats: [1], shape: [1])
        XCTAssertThrowsError(try VQVAE(file: file)) { error in
            XCTAssertEqual(error as? TransformsError, .weights(.unexpectedTensors(["synthesis.99.weight"])),
                           "other components' tensors are ignored, unknown VQ-VAE tensors are not")
        }
    }

    func testModelNames() {
        XCTAssertTrue(VQVAE.isValidName("vq-s8 w64"))
        XCTAssertFalse(VQVAE.isValidName(""))
        XCTAssertFalse(VQVAE.isValidName(String(repeating: "a", count: 65)))
        XCTAssertFalse(VQVAE.isValidName("café"))
        XCTAssertFalse(VQVAE.isValidName("tab\there"))
    }
}
