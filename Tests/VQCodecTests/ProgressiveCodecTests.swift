import Container
import Foundation
import Images
import VQCodec
import XCTest

/// The codec with a progressive model (`Fixtures/models/progressive-tiny.safetensors`: the stage
/// parity fixture's weights, D = 8, stages 1×16, 2×16, 4×8, frozen with `vqcodec freeze`) writes
/// `.vqc` version 2 files whose every prefix of stages is itself the file of that quality.
final class ProgressiveCodecTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let modelPath = root.appendingPathComponent("Fixtures/models/progressive-tiny.safetensors").path

    func load() throws -> (ProgressiveCodecModel, Image) {
        let model = try ProgressiveCodecModel(path: Self.modelPath)
        let image = try PNG.read(path: Self.root.appendingPathComponent("Fixtures/images/photo-192x128.png").path)
        return (model, image)
    }

    func options(threads: Int = 2, tileSize: Int = 5) -> VQCodec.EncodeOptions {
        var options = VQCodec.EncodeOptions()
        options.threads = threads
        options.tileSize = tileSize
        return options
    }

    func testEveryLevelRoundTripsAndTruncationIsTheLowerLevelsFile() throws {
        let (model, image) = try load()
        XCTAssertEqual(model.stageCount, 3)
        let full = try VQCodec.encode(image, model: model, options: options())
        XCTAssertEqual(full.header.stageCount, 3)
        XCTAssertEqual(full.header.tileCount, 20, "16 × 24 positions in tiles of 5 × 5: 4 × 5 tiles")
        var previous: Image?
        for k in 1...3 {
            let direct = try VQCodec.encode(image, model: model, stages: k, options: options())
            XCTAssertEqual(direct.stageSymbols, Array(full.stageSymbols.prefix(k)), "stage symbols do not depend on how many follow")
            let cut = try VQCodec.truncate(full.bytes, toStages: k)
            XCTAssertEqual(cut, direct.bytes, "cut to \(k) stages = encoded at \(k) stages, byte for byte")
            let decoded = try VQCodec.decode(cut, model: model)
            XCTAssertEqual(decoded.stagesDecoded, k)
            XCTAssertEqual(decoded.stageSymbols, direct.stageSymbols)
            // Decoding fewer stages of the full file gives the same image as the cut file.
            let partial = try VQCodec.decode(full.bytes, model: model, stages: k)
            XCTAssertEqual(partial.image, decoded.image)
            XCTAssertEqual(partial.stageSymbols, decoded.stageSymbols)
            if let previous { XCTAssertNotEqual(previous, decoded.image, "stage \(k) changes the image") }
            previous = decoded.image
            XCTAssertEqual(direct.priorBits.count, k)
            XCTAssertLessThan(Double(direct.header.payloadByteCount), direct.priorBits.reduce(0, +) / 8 + Double(4 * 20 * k),
                              "the payload is the prior's ideal size plus at most 4 bytes per stream")
        }
    }

    func testBytesDoNotDependOnThreadsAndDecodeDoesNotDependOnTiles() throws {
        let (model, image) = try load()
        let one = try VQCodec.encode(image, model: model, options: options(threads: 1))
        let four = try VQCodec.encode(image, model: model, options: options(threads: 4))
        XCTAssertEqual(one.bytes, four.bytes)
        // The nearest codes do not depend on the tiles (the default encoder weighs each code's bits
        // in its tile's context, so its choice may): one tile and many decode to the same image.
        var nearestOne = options(threads: 1), nearestWhole = options(tileSize: 64)
        (nearestOne.nearestCodes, nearestWhole.nearestCodes) = (true, true)
        let tiled = try VQCodec.encode(image, model: model, options: nearestOne)
        let whole = try VQCodec.encode(image, model: model, options: nearestWhole)
        XCTAssertEqual(whole.header.tileCount, 1)
        XCTAssertEqual(whole.stageSymbols, tiled.stageSymbols)
        XCTAssertEqual(try VQCodec.decode(whole.bytes, model: model).image, try VQCodec.decode(tiled.bytes, model: model).image)
        var reconstructing = options()
        reconstructing.reconstruct = true
        let withImage = try VQCodec.encode(image, model: model, options: reconstructing)
        XCTAssertEqual(withImage.reconstruction, try VQCodec.decode(one.bytes, model: model).image)
    }

    func testAFileCutInsideAStageSalvagesTheStagesBeforeIt() throws {
        let (model, image) = try load()
        let full = try VQCodec.encode(image, model: model, options: options())
        let twoStageBytes = full.header.fileByteCount(stages: 2)
        let cut = Array(full.bytes.prefix(twoStageBytes + (full.bytes.count - twoStageBytes) / 2))
        XCTAssertThrowsError(try VQCodec.decode(cut, model: model)) { error in
            XCTAssertTrue(error is ContainerError, "\(error)")
        }
        var salvage = VQCodec.DecodeOptions()
        salvage.salvage = true
        let salvaged = try VQCodec.decode(cut, model: model, options: salvage)
        XCTAssertEqual(salvaged.stagesDecoded, 2)
        XCTAssertNotNil(salvaged.damage)
        XCTAssertEqual(salvaged.image, try VQCodec.decode(VQCodec.truncate(full.bytes, toStages: 2), model: model).image)
    }

    func testStagesFittingABudgetAndOutOfRangeStages() throws {
        let (model, image) = try load()
        let full = try VQCodec.encode(image, model: model, options: options())
        let pixels = Double(image.width * image.height)
        let sizes = (1...3).map { 8 * Double(full.header.fileByteCount(stages: $0)) / pixels }
        XCTAssertEqual(sizes, sizes.sorted())
        XCTAssertEqual(VQCodec.stages(fitting: sizes[1], header: full.header), 2)
        XCTAssertEqual(VQCodec.stages(fitting: sizes[1] - 1e-9, header: full.header), 1)
        XCTAssertEqual(VQCodec.stages(fitting: 100, header: full.header), 3)
        XCTAssertNil(VQCodec.stages(fitting: sizes[0] / 2, header: full.header))
        XCTAssertThrowsError(try VQCodec.encode(image, model: model, stages: 4, options: options())) {
            XCTAssertEqual($0 as? CodecError, .stagesOutOfRange(requested: 4, available: 3, model: model.name))
        }
        XCTAssertThrowsError(try VQCodec.truncate(full.bytes, toStages: 0))
        let two = try VQCodec.truncate(full.bytes, toStages: 2)
        XCTAssertThrowsError(try VQCodec.decode(two, model: model, stages: 3)) {
            XCTAssertEqual($0 as? CodecError, .stagesOutOfRange(requested: 3, available: 2, model: model.name))
        }
    }

    func testEvaluationOfEveryLevel() throws {
        let (model, image) = try load()
        let rows = try VQCodec.evaluateStages(image, model: model, options: options())
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows.map(\.bitsPerPixel), rows.map(\.bitsPerPixel).sorted())
        for row in rows {
            let float = try XCTUnwrap(row.floatPriorBitsPerPixel)
            XCTAssertEqual(row.integerPriorBitsPerPixel / float, 1, accuracy: 0.005, "integer prior within 0.5 % of the float one")
        }
    }
}
