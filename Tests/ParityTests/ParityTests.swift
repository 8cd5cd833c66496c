import IntegerPrior
import SafeTensors
import XCTest
import Foundation
import Engine
import Prior
import Quantizer
@testable import Transforms

/// The Swift engine computes what PyTorch computes: a model with random weights written by the
/// PyTorch trainer (`Tools/train_torch`), and PyTorch's results on fixed inputs, evaluated in float64
/// from the float32 weights, are in `Fixtures/parity/` (see `Tools/train_torch/make_parity_fixture.py`;
/// regenerate only on purpose with `python3 Tools/train_torch/make_parity_fixture.py`). Swift loads
/// the model with its own readers and must reproduce the analysis transform, the quantizer's
/// indices, the synthesis transform and the float prior's logits.
///
/// This guards both directions: a PyTorch-trained model file means in Swift what it meant in
/// PyTorch (names, layouts, padding, PixelShuffle order, GDN bounds, PixelCNN masks and group
/// order), and the Swift engine cannot drift silently.
final class ParityTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/parity")

    /// Largest |Swift − PyTorch| allowed, as a fraction of the largest |PyTorch| value of the
    /// output. Float32 rounding differs between the two (summation order, BLAS, Swift's GDN
    /// reciprocal square root within 2 ulp); measured differences are at most 5e-7 of the range (1e-7 for the logits), a
    /// layout or masking mistake is of the order of the range itself.
    static let relativeTolerance: Float = 5e-6
    /// Two codes whose squared distances to a latent vector x differ by at most this × (1 + ‖x‖²)
    /// are a near-tie: float implementations may legitimately pick either. Same rule as the fixture script.
    static let tieTolerance = 1e-4

    struct Fixture {
        var model: SafeTensorsFile
        var io: SafeTensorsFile
        var vqvae: VQVAE
        var images: Tensor
    }

    func loadFixture() throws -> Fixture {
        let modelPath = Self.folder.appendingPathComponent("model.safetensors").path
        let ioPath = Self.folder.appendingPathComponent("io.safetensors").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: modelPath), "missing fixture \(modelPath)")
        let model = try SafeTensorsFile(contentsOf: modelPath)
        let io = try SafeTensorsFile(contentsOf: ioPath)
        let vqvae = try VQVAE(file: model)
        let pixels = try io.tensor("images", shape: [2, 3, 32, 32]).uint8s()
        return Fixture(model: model, io: io, vqvae: vqvae,
                       images: Tensor(shape: [2, 3, 32, 32], data: pixels.map { Float($0) / 255 }))
    }

    /// Largest |a − b|, and fails when it exceeds the tolerance relative to the reference's range.
    @discardableResult
    func assertClose(_ swift: [Float], _ reference: [Float], _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) -> Float {
        XCTAssertEqual(swift.count, reference.count, "\(what): element count", file: file, line: line)
        let range = reference.map(abs).max() ?? 0
        var worst: Float = 0, worstIndex = 0
        for i in 0..<min(swift.count, reference.count) where abs(swift[i] - reference[i]) > worst {
            worst = abs(swift[i] - reference[i])
            worstIndex = i
        }
        let limit = Self.relativeTolerance * max(range, 1e-3)
        print("parity \(what): max |Swift − PyTorch| = \(worst) at \(worstIndex) (range \(range), limit \(limit))")
        XCTAssertLessThanOrEqual(worst, limit, "\(what): element \(worstIndex) is \(swift[worstIndex]), PyTorch "
                                 + "\(reference[worstIndex])", file: file, line: line)
        // A fixture of zeros would prove nothing.
        XCTAssertGreaterThan(range, 0.1, "\(what): the reference has no signal", file: file, line: line)
        return worst
    }

    func testAnalysisTransformMatchesPyTorch() throws {
        let f = try loadFixture()
        let latent = f.vqvae.analysis.forward(f.images)
        XCTAssertEqual(latent.shape, [2, 16, 4, 4])
        assertClose(latent.data, try f.io.floats("latent", shape: [2, 16, 4, 4]), "analysis")
    }

    func testQuantizerIndicesMatchPyTorchExceptAtNearTies() throws {
        let f = try loadFixture()
        let expected = try f.io.int32s("symbols", shape: [2, 4, 4, 4])
        let symbols = f.vqvae.symbols(images: f.images)
        XCTAssertEqual(symbols.count, expected.count)
        // Distances from PyTorch's latent, in Double: a mismatch is allowed only where PyTorch's
        // choice and Swift's are a near-tie.
        let latent = try f.io.floats("latent", shape: [2, 16, 4, 4])
        let books = f.vqvae.codebooks
        let (groups, d, k, plane) = (books.groups, books.dimension, books.codebookSize, 16)
        func squaredDistance(batch: Int, group: Int, position: Int, code: Int) -> Double {
            (0..<d).reduce(0.0) { sum, i in
                let x = Double(latent[(batch * groups * d + group * d + i) * plane + position])
                let c = Double(books.vectors[(group * k + code) * d + i])
                return sum + (x - c) * (x - c)
            }
        }
        var mismatches = 0, nearTies = 0
        for index in 0..<expected.count where symbols[index] != expected[index] {
            mismatches += 1
            let (batch, group, position) = (index / (groups * plane), (index / plane) % groups, index % plane)
            let norm = (0..<d).reduce(0.0) { sum, i in
                let x = Double(latent[(batch * groups * d + group * d + i) * plane + position]); return sum + x * x
            }
            let gap = squaredDistance(batch: batch, group: group, position: position, code: Int(symbols[index]))
                - squaredDistance(batch: batch, group: group, position: position, code: Int(expected[index]))
            if abs(gap) <= Self.tieTolerance * (1 + norm) {
                nearTies += 1
            } else {
                XCTFail("symbol \(index): Swift chose \(symbols[index]), PyTorch \(expected[index]); distance gap \(gap) is no near-tie")
            }
        }
        print("parity indices: \(expected.count - mismatches)/\(expected.count) equal, \(nearTies) differ at near-ties "
              + "(fixture: \(f.io.metadata["near_ties"] ?? "?") near-ties in float64)")
        XCTAssertGreaterThan(Set(expected).count, 20, "the fixture's symbols should vary")
    }

    func testSynthesisTransformMatchesPyTorch() throws {
        let f = try loadFixture()
        // PyTorch's indices, so this comparison does not depend on the quantizer's.
        let symbols = try f.io.int32s("symbols", shape: [2, 4, 4, 4])
        let reconstruction = f.vqvae.reconstruct(symbols: symbols, batch: 2, height: 4, width: 4)
        XCTAssertEqual(reconstruction.shape, [2, 3, 32, 32])
        assertClose(reconstruction.data, try f.io.floats("reconstruction", shape: [2, 3, 32, 32]), "synthesis")
    }

    func testFloatPriorLogitsMatchPyTorch() throws {
        let f = try loadFixture()
        let prior = try PixelCNNPrior(file: f.model)
        XCTAssertEqual(prior.configuration, PriorConfiguration(groups: 4, codebookSize: 32, embeddingDimension: 4,
                                                               channels: 16, blocks: 2, kernelSize: 3, headChannels: 16))
        let symbols = try f.io.int32s("prior_symbols", shape: [2, 4, 5, 6])
        let logits = prior.logits(symbols: symbols, batch: 2, height: 5, width: 6)
        XCTAssertEqual(logits.shape, [2, 128, 5, 6])
        assertClose(logits.data, try f.io.floats("prior_logits", shape: [2, 128, 5, 6]), "prior logits")
    }

    /// The integer prior frozen from PyTorch-trained weights codes the fixture's symbols at close to
    /// the float prior's rate (the freeze works on a file the trainer wrote, not only on Swift's).
    func testIntegerPriorFrozenFromThePyTorchPriorCodesNearItsFloatRate() throws {
        let f = try loadFixture()
        let prior = try PixelCNNPrior(file: f.model)
        let symbols = try f.io.int32s("prior_symbols", shape: [2, 4, 5, 6])
        let frozen = prior.freeze()
        var floatBits = 0.0, integerBits = 0.0
        for b in 0..<2 {
            let map = Array(symbols[(b * 120)..<((b + 1) * 120)])
            floatBits += prior.crossEntropyBits(symbols: map, batch: 1, height: 5, width: 6)
            integerBits += frozen.bits(symbols: map, height: 5, width: 6)
        }
        print("parity integer prior: \(integerBits) bits vs float \(floatBits) bits")
        XCTAssertEqual(integerBits / floatBits, 1, accuracy: 0.01)
    }
}
