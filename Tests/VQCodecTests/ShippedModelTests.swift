import XCTest
import Foundation
@testable import VQCodec

/// The models in Models/ load, code a photo, and beat the uniform rate: a broken or mis-exported
/// model file must fail here, not in a user's hands.
final class ShippedModelTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testEveryShippedModelCodesAPhoto() throws {
        let folder = Self.root.appendingPathComponent("Models")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertFalse(files.isEmpty, "Models/ holds no model")
        let image = try PNG.read(path: Self.root.appendingPathComponent("Fixtures/images/photo-64x48.png").path)
        for file in files {
            let model = try CodecModel(path: folder.appendingPathComponent(file).path)
            XCTAssertEqual(model.name + ".safetensors", file, "the file is named after the model")
            let evaluation = try VQCodec.evaluate(image, model: model)
            // 64 × 48 pixels give a stride-16 model only 4 × 3 positions of context, so the bar is
            // modest: the prior must beat the uniform code (an untrained prior does not).
            XCTAssertLessThan(evaluation.integerPriorBitsPerPixel, evaluation.uniformBitsPerPixel * 0.95,
                              "\(file): the prior must save rate over the uniform code")
            XCTAssertGreaterThan(evaluation.distortion.psnr, 17, "\(file): a trained model reconstructs the photo (an untrained one gives 10–12 dB)")
            let floatBits = try XCTUnwrap(evaluation.floatPriorBitsPerPixel)
            XCTAssertLessThan(abs(evaluation.integerPriorBitsPerPixel / floatBits - 1), 0.01,
                              "\(file): integer prior within 1 % of the float prior")
        }
    }
}
