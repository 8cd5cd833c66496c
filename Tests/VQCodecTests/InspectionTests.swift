import XCTest
import Foundation
@testable import VQCodec

/// `VQCodec.inspect`: the per-symbol costs are those of the tables the range coder used, so they
/// add up to each tile's stream within the coder's flush.
final class InspectionTests: XCTestCase {
    static let fixtures = GoldenTests.fixtures

    /// Checks every tile of `inspection` against the bound of ``VQCodec/TileCost``:
    /// −32 − ε ≤ 8 · bytes − bits ≤ 8 + ε, ε = symbols · 2^-16 / ln 2, plus 8 bits when the
    /// container stored its one-byte minimum for an empty stream.
    func assertTilesWithinFlush(_ inspection: VQCodec.Inspection, _ name: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        var excess = 0.0
        for tile in inspection.tiles {
            let epsilon = Double(tile.symbols) / 65536 / log(2) + 1e-9
            let difference = 8 * Double(tile.bytes) - tile.bits
            XCTAssertGreaterThanOrEqual(difference, -32 - epsilon, "\(name) tile \(tile.index)", file: file, line: line)
            XCTAssertLessThanOrEqual(difference, 8 + epsilon + (tile.bytes == 1 ? 8 : 0), "\(name) tile \(tile.index)",
                                     file: file, line: line)
            excess += difference
        }
        // The per-position map sums to the same total: the heatmap accounts for the whole payload.
        let mapped = inspection.positionBits.reduce(0, +)
        XCTAssertEqual(mapped, inspection.totalBits, accuracy: 1e-6 * max(1, mapped), name, file: file, line: line)
        let payload = 8 * Double(inspection.header.payloadByteCount)
        XCTAssertEqual(payload - mapped, excess, accuracy: 1e-6 * payload, name, file: file, line: line)
    }

    func testBitsAddUpToThePayloadOfEveryShippedLevelsGoldenFile() throws {
        let catalogue = try ShippedModels.levels()
        for level in catalogue.levels {
            let bytes = try Array(Data(contentsOf: Self.fixtures.appendingPathComponent("golden/models/\(level.model).vqc")))
            let model = try CodecModel(path: catalogue.path(of: level))
            let inspection = try VQCodec.inspect(bytes, model: model)
            XCTAssertEqual(inspection.symbols, try VQCodec.decode(bytes, model: model).symbols, level.model)
            assertTilesWithinFlush(inspection, level.model)
        }
    }

    func testBitsAddUpOverManyTilesAndMatchTheEncodersPriorBits() throws {
        let model = try CodecModel(path: Self.fixtures.appendingPathComponent("models/tiny.safetensors").path)
        let image = try PNG.read(path: Self.fixtures.appendingPathComponent("images/photo-64x48.png").path)
        for tileSize in [1, 2, 3, 8] {
            var options = VQCodec.EncodeOptions()
            options.tileSize = tileSize
            let encoded = try VQCodec.encode(image, model: model, options: options)
            let inspection = try VQCodec.inspect(encoded.bytes, model: model)
            XCTAssertEqual(inspection.symbols, encoded.symbols)
            XCTAssertEqual(inspection.tiles.count, encoded.header.tileCount)
            XCTAssertEqual(inspection.totalBits, encoded.priorBits, accuracy: 1e-9 * encoded.priorBits)
            XCTAssertTrue(inspection.bits.allSatisfy { $0 > 0 && $0 <= 16 }, "a symbol costs between 0 and 16 bits")
            assertTilesWithinFlush(inspection, "tile size \(tileSize)")
        }
    }

    func testFilesDecodeRefusesAreRefusedWithTheSameError() throws {
        let model = try CodecModel(path: Self.fixtures.appendingPathComponent("models/tiny.safetensors").path)
        for name in ["golden/small.vqc", "malformed/truncated.vqc", "malformed/bad-crc.vqc"] {
            let bytes = try Array(Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
            var decodeError = ""
            XCTAssertThrowsError(try VQCodec.decode(bytes, model: model)) { decodeError = "\($0)" }
            XCTAssertThrowsError(try VQCodec.inspect(bytes, model: model)) { XCTAssertEqual("\($0)", decodeError, name) }
        }
    }

    func testCodeTilesAreOneColourPerCodeAndDuplicatesAreFound() throws {
        let model = try CodecModel(path: Self.fixtures.appendingPathComponent("models/tiny.safetensors").path)
        let tiles = VQCodec.codeTiles(model: model, group: 0, codes: [3, 3, 5], reference: [0, 0], side: 4)
        XCTAssertEqual(tiles.count, 3)
        XCTAssertEqual([tiles[0].image.width, tiles[0].image.height], [32, 32])
        XCTAssertEqual(tiles[0].samples.count, 3 * 32 * 32)
        XCTAssertEqual(tiles[0].samples, tiles[1].samples, "a code's tile does not depend on its batch position")
        XCTAssertEqual(tiles[0].image, tiles[1].image)
        let pairs = NearDuplicates.pairs(tiles: tiles.map(\.samples), minimumPSNR: 40)
        XCTAssertEqual(pairs.first, NearDuplicates.Pair(first: 0, second: 1, psnr: .infinity))
        XCTAssertEqual(pairs.count, NearDuplicates.psnr(tiles[0].samples, tiles[2].samples) >= 40 ? 3 : 1)
        // The threshold is inclusive and measured on unclamped samples.
        let shifted = tiles[0].samples.map { $0 + 2.5 }  // MSE 6.25: 40.17 dB
        XCTAssertEqual(NearDuplicates.pairs(tiles: [tiles[0].samples, shifted], minimumPSNR: 40).count, 1)
        XCTAssertEqual(NearDuplicates.pairs(tiles: [tiles[0].samples, shifted], minimumPSNR: 40.2).count, 0)
    }
}
