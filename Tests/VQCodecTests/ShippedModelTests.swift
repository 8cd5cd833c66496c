import XCTest
import Foundation
@testable import VQCodec

/// The models in Models/shipped load, code a photo, and beat the uniform rate: a broken or mis-exported
/// model file must fail here, not in a user's hands.
final class ShippedModelTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testEveryShippedModelCodesAPhoto() throws {
        let folder = Self.root.appendingPathComponent("Models/shipped")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertFalse(files.isEmpty, "Models/shipped holds no model")
        let image = try PNG.read(path: Self.root.appendingPathComponent("Fixtures/images/photo-192x128.png").path)
        let retired = Set(try ShippedModels.levels().retired.map(\.model))
        for file in files {
            let path = folder.appendingPathComponent(file).path
            if case .progressive(let progressive) = try AnyCodecModel.load(path: path) {
                try checkProgressive(progressive, file: file, image: image)
                continue
            }
            let model = try CodecModel(path: path)
            XCTAssertEqual(model.name + ".safetensors", file, "the file is named after the model")
            let evaluation = try VQCodec.evaluate(image, model: model)
            // 192 × 128 pixels give a stride-16 model 12 × 8 positions (64 × 48 gave 4 × 3, too few
            // for a prior to show anything), so the bar is modest: the prior must beat the uniform
            // code (an untrained prior does not).
            XCTAssertLessThan(evaluation.integerPriorBitsPerPixel, evaluation.uniformBitsPerPixel * 0.95,
                              "\(file): the prior must save rate over the uniform code")
            XCTAssertGreaterThan(evaluation.distortion.psnr, 17, "\(file): a trained model reconstructs the photo (an untrained one gives 10–12 dB)")
            // Retired models may be decode-only (Tools/compact_model.py --decode-only: no float
            // prior); the levels keep theirs, which `train prior --init-from` continues.
            if let floatBits = evaluation.floatPriorBitsPerPixel {
                XCTAssertLessThan(abs(evaluation.integerPriorBitsPerPixel / floatBits - 1), 0.01,
                                  "\(file): integer prior within 1 % of the float prior")
            } else {
                XCTAssertTrue(retired.contains(model.name), "\(file): a quality level keeps its float prior")
            }
        }
    }

    /// A shipped progressive model codes the photo at every quality level, each better than the last.
    func checkProgressive(_ model: ProgressiveCodecModel, file: String, image: Image) throws {
        XCTAssertEqual(model.name + ".safetensors", file, "the file is named after the model")
        let rows = try VQCodec.evaluateStages(image, model: model)
        for (index, row) in rows.enumerated() {
            XCTAssertLessThan(row.integerPriorBitsPerPixel, row.uniformBitsPerPixel * 0.95,
                              "\(file) level \(index + 1): the priors must save rate over the uniform code")
            XCTAssertGreaterThan(row.distortion.psnr, 17, "\(file) level \(index + 1)")
            if let floatBits = row.floatPriorBitsPerPixel {
                XCTAssertLessThan(abs(row.integerPriorBitsPerPixel / floatBits - 1), 0.005,
                                  "\(file) level \(index + 1): integer priors within 0.5 % of the float ones")
            }
        }
        XCTAssertEqual(rows.map(\.bitsPerPixel), rows.map(\.bitsPerPixel).sorted(), "\(file): each stage adds bits")
        XCTAssertEqual(rows.map(\.distortion.psnr), rows.map(\.distortion.psnr).sorted(), "\(file): each stage adds detail")
    }
}

/// The quality-level catalogue (Models/shipped/levels.json) and the models SwiftPM copies next to the
/// products agree with Models/shipped: every model is a level, every level loads under its own name, and
/// the Kodak figures rise with the level.
final class ShippedLevelsTests: XCTestCase {
    func testCatalogueListsEveryShippedModelInRateOrder() throws {
        let catalogue = try ShippedModels.levels()
        let folder = ShippedModelTests.root.appendingPathComponent("Models/shipped")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".safetensors") }
        let names = catalogue.modelNames
        XCTAssertEqual(Set(names.map { $0 + ".safetensors" }), Set(files),
                       "levels.json (levels, progressive and retired) and Models/shipped must list the same models")
        for name in names {
            let path = try XCTUnwrap(catalogue.path(ofModelNamed: name))
            let model = try AnyCodecModel.load(path: path)
            XCTAssertEqual(model.name, name)
            if case .progressive(let progressive) = model {
                XCTAssertTrue(catalogue.progressive.contains { $0.model == name }, "\(name) is progressive: listed as such")
                let figures = try XCTUnwrap(catalogue.progressive.first { $0.model == name }?.kodak, "\(name): Kodak figures")
                XCTAssertEqual(figures.count, progressive.stageCount, "\(name): Kodak figures for every quality level")
                XCTAssertEqual(figures.map(\.bpp), figures.map(\.bpp).sorted(), "\(name): rates rise with the level")
                XCTAssertEqual(figures.map(\.psnr), figures.map(\.psnr).sorted(), "\(name): PSNR rises with the level")
            }
            let copied = try Data(contentsOf: URL(fileURLWithPath: path))
            let source = try Data(contentsOf: folder.appendingPathComponent(name + ".safetensors"))
            XCTAssertEqual(copied, source, "\(name): the built resource is stale; rebuild")
        }
        let kodak = catalogue.levels.compactMap(\.kodak)
        XCTAssertEqual(kodak.count, catalogue.levels.count, "every level records its Kodak figures")
        XCTAssertEqual(kodak.map(\.bpp), kodak.map(\.bpp).sorted(), "levels go from low to high rate")
        XCTAssertEqual(kodak.map(\.psnr), kodak.map(\.psnr).sorted(), "a higher level reconstructs better")
        XCTAssertNotNil(catalogue.level(catalogue.defaultQuality))
    }
}
