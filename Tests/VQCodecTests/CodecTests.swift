import IntegerPrior
import SeededRandom
import SafeTensors
import XCTest
import Engine
import Prior
import Transforms
@testable import VQCodec

/// The encode → decode pipeline on small models built in memory (random weights: the rates are
/// poor, but every property below must hold for any model).
final class CodecTests: XCTestCase {
    static func makeModel(groups: Int = 2, codebookSize: Int = 16, seed: UInt64 = 1, name: String = "test-model") throws -> CodecModel {
        let vqvae = VQVAE(configuration: VQVAEConfiguration(stride: 8, width: 8, latentChannels: 2 * groups,
                                                            groups: groups, codebookSize: codebookSize),
                          seed: seed)
        let prior = PixelCNNPrior(configuration: PriorConfiguration(groups: groups, codebookSize: codebookSize, embeddingDimension: 4, channels: 2 * groups * 2, blocks: 2, kernelSize: 3, headChannels: 4 * groups), seed: seed)
        var tensors = vqvae.storedTensors(dtype: .f32, includeTrainingState: false)
        tensors.merge(prior.storedTensors(dtype: .f32)) { a, _ in a }
        let integer = prior.freeze()
        tensors.merge(integer.storedTensors()) { a, _ in a }
        var metadata = vqvae.metadata
        metadata.merge(prior.metadata) { a, _ in a }
        metadata.merge(integer.metadata) { a, _ in a }
        metadata["name"] = name
        return try CodecModel(file: SafeTensorsFile(metadata: metadata, tensors: tensors), source: "memory:\(name)")
    }

    static func photo() throws -> Image {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/images/photo-64x48.png").path
        return try PNG.read(path: path)
    }

    func testDecodeReturnsExactlyTheEncodedSymbolsAndTheReportedImage() throws {
        let model = try Self.makeModel()
        let image = try Self.photo()
        var options = VQCodec.EncodeOptions()
        options.tileSize = 3
        options.reconstruct = true
        let encoded = try VQCodec.encode(image, model: model, options: options)
        XCTAssertEqual(encoded.header.tileCount, 2 * 3, "6 × 8 latent positions in 3 × 3 tiles")
        let decoded = try VQCodec.decode(encoded.bytes, model: model)
        XCTAssertEqual(decoded.symbols, encoded.symbols)
        XCTAssertEqual(decoded.image, encoded.reconstruction, "encode --psnr measures the image decode returns")
        XCTAssertEqual(decoded.image.width, 64)
        XCTAssertEqual(decoded.image.height, 48)
    }

    func testPayloadIsWithinOnePercentOfTheIntegerPriorsIdealBits() throws {
        let model = try Self.makeModel(groups: 2, codebookSize: 16)
        let image = try Self.photo()
        let encoded = try VQCodec.encode(image, model: model)
        let payloadBits = Double(encoded.header.payloadByteCount * 8)
        // Each tile stream may round up to a whole byte plus a flush of at most 4 bytes.
        let slack = Double(encoded.header.tileCount) * 5 * 8
        XCTAssertLessThanOrEqual(payloadBits, encoded.priorBits * 1.01 + slack)
        XCTAssertGreaterThanOrEqual(payloadBits + 1, encoded.priorBits * 0.99 - slack)
    }

    func testBytesDoNotDependOnThreadCount() throws {
        let model = try Self.makeModel()
        let image = try Self.photo()
        var one = VQCodec.EncodeOptions(); one.threads = 1; one.tileSize = 2
        var many = VQCodec.EncodeOptions(); many.threads = 5; many.tileSize = 2
        let a = try VQCodec.encode(image, model: model, options: one).bytes
        let b = try VQCodec.encode(image, model: model, options: many).bytes
        XCTAssertEqual(a, b)
        XCTAssertEqual(try VQCodec.decode(a, model: model, threads: 1).image, try VQCodec.decode(a, model: model, threads: 4).image)
    }

    func testImagesOfAnySizeAndGrayStaysGray() throws {
        let model = try Self.makeModel()
        var rng = SplitMix64(seed: 9)
        for (width, height, gray) in [(1, 1, false), (1, 37, false), (53, 1, true), (9, 17, true), (17, 8, false)] {
            let colorType: Image.ColorType = gray ? .gray : .rgb
            let pixels = (0..<(width * height * colorType.channels)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let image = Image(width: width, height: height, colorType: colorType, pixels: pixels)
            var options = VQCodec.EncodeOptions(); options.reconstruct = true
            let encoded = try VQCodec.encode(image, model: model, options: options)
            let decoded = try VQCodec.decode(encoded.bytes, model: model)
            XCTAssertEqual(decoded.image.width, width)
            XCTAssertEqual(decoded.image.height, height)
            XCTAssertEqual(decoded.image.colorType, colorType, "\(width)×\(height)")
            XCTAssertEqual(decoded.image, encoded.reconstruction)
        }
    }

    func testWrongModelFailsClearly() throws {
        let model = try Self.makeModel(seed: 1, name: "model-a")
        let other = try Self.makeModel(seed: 2, name: "model-a")
        let renamed = try Self.makeModel(seed: 1, name: "model-b")
        let bytes = try VQCodec.encode(try Self.photo(), model: model).bytes
        XCTAssertThrowsError(try VQCodec.decode(bytes, model: other)) { error in
            guard case .wrongModel(let fileModel, _, let givenModel, _)? = error as? ContainerError else { return XCTFail("\(error)") }
            XCTAssertEqual(fileModel, "model-a"); XCTAssertEqual(givenModel, "model-a")
            XCTAssertTrue("\(error)".contains("another version of model \"model-a\""), "\(error)")
        }
        XCTAssertThrowsError(try VQCodec.decode(bytes, model: renamed)) { error in
            XCTAssertTrue("\(error)".contains("decode it with \"model-a\""), "\(error)")
        }
    }

    func testChecksumCoversCodingWeightsOnly() throws {
        let a = try Self.makeModel(seed: 1)
        let b = try Self.makeModel(seed: 1)
        XCTAssertEqual(a.checksum, b.checksum, "the same weights give the same identity")
        XCTAssertNotEqual(a.checksum, try Self.makeModel(seed: 3).checksum)
    }
}
