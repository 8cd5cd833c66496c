import SeededRandom
import XCTest
@testable import Container

/// The writer applies the reader's rules: it refuses, with the reader's error, what the reader would refuse.
final class WriterTests: XCTestCase {
    func fields(_ edit: (inout VQCHeaderFields) -> Void) -> VQCHeaderFields {
        var fields = Sample.small.fields
        edit(&fields)
        return fields
    }

    func writerError(_ fields: VQCHeaderFields, streams: [[UInt8]]? = nil,
                     limits: ContainerLimits = ContainerLimits()) -> ContainerError? {
        containerError {
            _ = try VQCWriter.encode(fields, tileStreams: streams ?? Sample.small.streams, limits: limits)
        }
    }

    func testRefusesInvalidFieldsWithTheReadersErrors() {
        XCTAssertEqual(writerError(fields { $0.width = 0 }), .invalidField(.width, found: 0, allowed: "at least 1"))
        XCTAssertEqual(writerError(fields { $0.bitDepth = 12 }), .invalidField(.bitDepth, found: 12, allowed: "1, 2, 4, 8 or 16"))
        XCTAssertEqual(writerError(fields { $0.modelName = "" }), .invalidField(.modelNameLength, found: 0, allowed: "1 to 64"))
        XCTAssertEqual(writerError(fields { $0.modelName = String(repeating: "m", count: 65) }),
                       .invalidField(.modelNameLength, found: 65, allowed: "1 to 64"))
        XCTAssertEqual(writerError(fields { $0.modelName = "modèle" }),
                       .invalidField(.modelName, found: 0xC3, allowed: "printable ASCII (0x20 to 0x7E)"))
        XCTAssertEqual(writerError(fields { $0.modelName = "tab\there" }),
                       .invalidField(.modelName, found: 0x09, allowed: "printable ASCII (0x20 to 0x7E)"))
        XCTAssertEqual(writerError(fields { $0.latent.stride = 6 }),
                       .invalidField(.stride, found: 6, allowed: "1, 2, 4, 8, 16 or 32"))
        XCTAssertEqual(writerError(fields { $0.latent.height = 5 }), .inconsistentGeometry(.latentHeight, expected: 6, found: 5))
        XCTAssertEqual(writerError(fields { $0.tileSize.width = 0 }),
                       .invalidField(.tileWidth, found: 0, allowed: "1 to 9 (the latent width)"))
        XCTAssertEqual(writerError(fields { $0.latent.codebookSize = 8192 }),
                       .limitExceeded(.codebookSize, value: 8192, limit: 4096))
    }

    func testLiftedLimitsStopAtTheFieldWidths() {
        let lifted = ContainerLimits(maxDimension: .max, maxPixels: .max, maxGroups: .max, maxCodebookSize: .max, maxTiles: .max)
        XCTAssertEqual(writerError(fields { $0.latent.groups = 300 }, limits: lifted), .limitExceeded(.groups, value: 300, limit: 255))
        XCTAssertEqual(writerError(fields { $0.latent.codebookSize = 70_000 }, limits: lifted),
                       .limitExceeded(.codebookSize, value: 70_000, limit: 65535))
        XCTAssertEqual(writerError(fields { $0.width = 1 << 33 }, limits: lifted),
                       .limitExceeded(.width, value: 1 << 33, limit: 0xFFFF_FFFF))
        XCTAssertNoThrow(try VQCWriter.encode(fields { $0.latent.groups = 20 }, tileStreams: Sample.small.streams,
                                              limits: ContainerLimits(maxGroups: 32)), "a raised limit is honoured")
    }

    func testRefusesEmptyStreams() {
        var streams = Sample.small.streams
        streams[3] = []
        XCTAssertEqual(writerError(Sample.small.fields, streams: streams), .emptyTile(tile: 3))
    }

    func testValidateMatchesTheWriter() {
        XCTAssertNoThrow(try Sample.small.fields.validate())
        XCTAssertEqual(containerError { try fields { $0.height = 0 }.validate() }, .invalidField(.height, found: 0, allowed: "at least 1"))
        XCTAssertEqual(containerError { try Sample.small.fields.validate(limits: ContainerLimits(maxTiles: 2)) },
                       .limitExceeded(.tileCount, value: 6, limit: 2))
    }

    /// The tiles partition the latent grid: every position lies in exactly one tile.
    func testTilesPartitionTheLatentGrid() {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<200 {
            let latent = LatentGeometry(height: Int.random(in: 1...40, using: &rng), width: Int.random(in: 1...40, using: &rng),
                                        groups: 1, codebookSize: 2, stride: 1)
            let fields = VQCHeaderFields(
                width: latent.width, height: latent.height, colorType: .gray, bitDepth: 8, modelName: "m", modelChecksum: 0,
                latent: latent, tileSize: TileSize(height: Int.random(in: 1...latent.height, using: &rng),
                                                   width: Int.random(in: 1...latent.width, using: &rng)))
            var cover = [Int](repeating: 0, count: latent.height * latent.width)
            for index in 0..<fields.tileCount {
                let rect = fields.latentRect(ofTile: index)
                XCTAssertGreaterThan(rect.positionCount, 0)
                for y in rect.top..<rect.top + rect.height {
                    for x in rect.left..<rect.left + rect.width { cover[y * latent.width + x] += 1 }
                }
            }
            XCTAssertEqual(cover, [Int](repeating: 1, count: cover.count), "\(fields)")
        }
    }

    func testLatentGeometryFromImageSizeRoundsUp() {
        let latent = LatentGeometry(imageWidth: 70, imageHeight: 45, stride: 8, groups: 2, codebookSize: 512)
        XCTAssertEqual(latent, LatentGeometry(height: 6, width: 9, groups: 2, codebookSize: 512, stride: 8))
        XCTAssertEqual(LatentGeometry(imageWidth: 64, imageHeight: 1, stride: 32, groups: 1, codebookSize: 2).width, 2)
    }
}
