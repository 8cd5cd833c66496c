import XCTest
import Foundation
import Container
@testable import VQCodec

/// `DecodeOptions.salvage`: damaged, missing and undecodable tiles are filled with mid-grey and
/// named; everything else decodes as from the intact file.
final class SalvageTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    var model: CodecModel!
    var intact: VQCodec.DecodeResult!
    var bytes: [UInt8]!

    override func setUpWithError() throws {
        model = try CodecModel(path: Self.root.appendingPathComponent("Fixtures/models/tiny.safetensors").path)
        let image = try BlockTransformTests.largeImage()  // 203 × 141: 26 × 18 positions
        var options = VQCodec.EncodeOptions()
        options.tileSize = 8  // 4 × 3 = 12 tiles
        bytes = try VQCodec.encode(image, model: model, options: options).bytes
        intact = try VQCodec.decode(bytes, model: model)
    }

    var salvage: VQCodec.DecodeOptions {
        var options = VQCodec.DecodeOptions()
        options.salvage = true
        return options
    }

    /// Checks that `result` is grey inside each damaged tile and equals the intact decode farther
    /// than the synthesis halo (3 positions) from every damaged tile.
    func assertFilled(_ result: VQCodec.DecodeResult, tiles: [Int], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.damagedTiles.map(\.tile), tiles, file: file, line: line)
        XCTAssertFalse(result.isComplete, file: file, line: line)
        let margin = 3 * model.configuration.stride
        var grey = 0, kept = 0
        for y in 0..<result.image.height {
            for x in 0..<result.image.width {
                let inside = result.damagedTiles.contains { x >= $0.x && x < $0.x + $0.width && y >= $0.y && y < $0.y + $0.height }
                let near = result.damagedTiles.contains {
                    x >= $0.x - margin && x < $0.x + $0.width + margin && y >= $0.y - margin && y < $0.y + $0.height + margin
                }
                for c in 0..<3 {
                    if inside {
                        XCTAssertEqual(result.image[x, y, c], 128, "(\(x), \(y)) is filled", file: file, line: line); grey += 1
                    } else if !near {
                        XCTAssertEqual(result.image[x, y, c], intact.image[x, y, c], "(\(x), \(y)) decodes", file: file, line: line); kept += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(grey, 0, file: file, line: line)
        XCTAssertGreaterThan(kept, 0, file: file, line: line)
    }

    func testFlippedBitFailsStrictlyAndIsFilledWhenSalvaging() throws {
        let header = try VQCHeader.read(from: bytes)
        var damaged = bytes!
        damaged[header.tiles[5].offset] ^= 0x04
        XCTAssertThrowsError(try VQCodec.decode(damaged, model: model)) { error in
            guard case .tileCRCMismatch(5, _, _)? = error as? ContainerError else { return XCTFail("\(error)") }
        }
        let result = try VQCodec.decode(damaged, model: model, options: salvage)
        assertFilled(result, tiles: [5])
        XCTAssertTrue(result.damagedTiles[0].reason.hasPrefix("tile 5 is damaged"), result.damagedTiles[0].reason)
        XCTAssertEqual(result.damagedTiles[0].x, 64, "tile 5 is row 1, column 1 of 4 × 3 tiles of 64 pixels")
        XCTAssertEqual(result.damagedTiles[0].y, 64)
        XCTAssertEqual(result.damagedTiles[0].width, 64)
    }

    func testTruncatedFileKeepsTheTilesBeforeTheCut() throws {
        let header = try VQCHeader.read(from: bytes)
        let cut = Array(bytes[..<(header.tiles[9].offset + 1)])
        XCTAssertThrowsError(try VQCodec.decode(cut, model: model)) { error in
            guard case .truncatedTile(9, _, _)? = error as? ContainerError else { return XCTFail("\(error)") }
        }
        assertFilled(try VQCodec.decode(cut, model: model, options: salvage), tiles: [9, 10, 11])
    }

    func testUndecodableTileWithAValidChecksumIsFilled() throws {
        // A stream that fails at its first word, with a CRC that matches: damage no checksum sees.
        let file = try VQCFile(bytes: bytes)
        var streams = (0..<file.header.tileCount).map { Array(try! file.tileStream($0)) }
        streams[2] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let forged = try VQCWriter.encode(file.header.fields, tileStreams: streams)
        XCTAssertThrowsError(try VQCodec.decode(forged, model: model)) { error in
            guard case .tileUndecodable(2, _)? = error as? CodecError else { return XCTFail("\(error)") }
        }
        assertFilled(try VQCodec.decode(forged, model: model, options: salvage), tiles: [2])
    }

    func testSalvageCannotRescueADamagedHeaderOrTheWrongModel() throws {
        var damaged = bytes!
        damaged[20] ^= 0x01  // inside the preamble (image width)
        XCTAssertThrowsError(try VQCodec.decode(damaged, model: model, options: salvage)) { error in
            guard case .headerCRCMismatch? = error as? ContainerError else { return XCTFail("\(error)") }
        }
        let other = try CodecTests.makeModel()
        XCTAssertThrowsError(try VQCodec.decode(bytes, model: other, options: salvage)) { error in
            guard case .wrongModel? = error as? ContainerError else { return XCTFail("\(error)") }
        }
    }

    func testIntactFileSalvagesToTheStrictDecode() throws {
        let result = try VQCodec.decode(bytes, model: model, options: salvage)
        XCTAssertTrue(result.isComplete)
        XCTAssertEqual(result.image, intact.image)
    }
}
