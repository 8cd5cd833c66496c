import Engine
import Foundation
import SafeTensors
import Transforms
import XCTest

/// The progressive model means in Swift what it means in PyTorch: a small model written by the
/// PyTorch trainer and PyTorch's float64 results on two crops are in `Fixtures/parity/rvq-*.safetensors`
/// (`Tools/train_torch/make_rvq_fixture.py`, regenerated only on purpose). Swift must find every
/// stage's symbols exactly (the fixture has no near-ties) and reproduce the synthesis of the first
/// n stages' decoded latent for every n.
final class ProgressiveParityTests: XCTestCase {
    func testStagesAndReconstructionsMatchPyTorch() throws {
        let folder = ParityTests.folder
        let file = try SafeTensorsFile(contentsOf: folder.appendingPathComponent("rvq-model.safetensors").path)
        let io = try SafeTensorsFile(contentsOf: folder.appendingPathComponent("rvq-io.safetensors").path)
        XCTAssertEqual(io.metadata["near_ties"], "0", "the fixture was chosen without near-ties")
        let model = try ProgressiveVQVAE(file: file)
        XCTAssertEqual(model.configuration.stages.map { [$0.groups, $0.codebookSize] }, [[1, 16], [2, 16], [4, 8]])
        XCTAssertEqual(model.name, "rvq-parity-fixture")
        let pixels = try io.tensor("images", shape: [2, 3, 32, 32]).uint8s()
        let images = Tensor(shape: [2, 3, 32, 32], data: pixels.map { Float($0) / 255 })

        let symbols = model.stageSymbols(images: images)
        XCTAssertEqual(symbols.count, 3)
        for (k, stage) in model.configuration.stages.enumerated() {
            let expected = try io.int32s("symbols\(k + 1)", shape: [2, stage.groups, 4, 4])
            XCTAssertEqual(symbols[k], expected, "stage \(k + 1) symbols")
            XCTAssertEqual(Set(expected).count > 4, true, "stage \(k + 1) of the fixture uses several codes")
        }
        // Fewer stages asked: the same first stages.
        XCTAssertEqual(model.stageSymbols(images: images, stages: 2), Array(symbols.prefix(2)))

        for n in 1...3 {
            let swift = model.reconstruct(stageSymbols: Array(symbols.prefix(n)), batch: 2, height: 4, width: 4)
            let reference = try io.floats("reconstruction\(n)", shape: [2, 3, 32, 32])
            let range = reference.map(abs).max() ?? 0
            let worst = zip(swift.data, reference).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, ParityTests.relativeTolerance * range, "reconstruction from \(n) stages")
        }
        // Each stage adds detail the previous ones lack: the reconstructions differ.
        let one = model.reconstruct(stageSymbols: [symbols[0]], batch: 2, height: 4, width: 4)
        let three = model.reconstruct(stageSymbols: symbols, batch: 2, height: 4, width: 4)
        XCTAssertNotEqual(one.data, three.data)
    }

    func testMalformedProgressiveFilesAreRefused() throws {
        let folder = ParityTests.folder
        let file = try SafeTensorsFile(contentsOf: folder.appendingPathComponent("rvq-model.safetensors").path)
        var noConfig = file
        noConfig.metadata["rvq.config"] = nil
        XCTAssertThrowsError(try ProgressiveVQVAE(file: noConfig)) {
            XCTAssertEqual($0 as? TransformsError, .missingMetadata(key: "rvq.config"))
        }
        var badGroups = file
        badGroups.metadata["rvq.config"] = #"{"latentChannels":8,"stages":[[1,16],[3,16]],"stride":8,"width":8}"#
        XCTAssertThrowsError(try ProgressiveVQVAE(file: badGroups)) { error in
            XCTAssertTrue("\(error)".contains("stage 2: latent channels (8) must be a multiple of groups (3)"), "\(error)")
        }
        var tooBig = file
        tooBig.metadata["rvq.config"] = #"{"latentChannels":8,"stages":[[1,16],[2,16],[4,8]],"stride":8,"width":1024}"#
        XCTAssertThrowsError(try ProgressiveVQVAE(file: tooBig)) { error in
            guard case .configurationExceedsWeights = error as? TransformsError else { return XCTFail("\(error)") }
        }
        var missingStage = file
        missingStage.tensors["quantizer.stage2.codebook"] = nil
        XCTAssertThrowsError(try ProgressiveVQVAE(file: missingStage)) {
            XCTAssertEqual($0 as? TransformsError, .weights(.missingTensors(["quantizer.stage2.codebook"])))
        }
        var extraStage = file
        extraStage.tensors["quantizer.stage4.codebook"] = file.tensors["quantizer.stage3.codebook"]
        XCTAssertThrowsError(try ProgressiveVQVAE(file: extraStage)) {
            XCTAssertEqual($0 as? TransformsError, .weights(.unexpectedTensors(["quantizer.stage4.codebook"])))
        }
        var notJSON = file
        notJSON.metadata["rvq.config"] = #"{"latentChannels":8,"stages":[[1]],"stride":8,"width":8}"#
        XCTAssertThrowsError(try ProgressiveVQVAE(file: notJSON)) { error in
            guard case .invalidConfiguration = error as? TransformsError else { return XCTFail("\(error)") }
        }
    }

    func testConfigurationJSONRoundTripsAndBoundsRate() throws {
        let text = #"{"latentChannels":64,"stages":[[1,512],[2,512],[4,512],[8,512]],"stride":8,"width":64}"#
        let configuration = try XCTUnwrap(ProgressiveConfiguration(json: text))
        XCTAssertEqual(configuration.json, text)
        XCTAssertNil(configuration.problem)
        XCTAssertEqual(configuration.boundBitsPerPixel(stages: 1), 9.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(configuration.boundBitsPerPixel(stages: 4), 135.0 / 64, accuracy: 1e-12)
        XCTAssertNotNil(ProgressiveConfiguration(stride: 8, width: 64, latentChannels: 64, stages: []).problem)
        XCTAssertNotNil(ProgressiveConfiguration(stride: 8, width: 64, latentChannels: 64,
                                                 stages: Array(repeating: .init(groups: 1, codebookSize: 2), count: 17)).problem)
    }
}
