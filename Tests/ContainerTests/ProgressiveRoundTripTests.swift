import SeededRandom
import XCTest
@testable import Container

/// Version 2 (progressive): what the writer writes reads back, and a file cut to its first k stages
/// is byte for byte the file written directly with k stages.
final class ProgressiveRoundTripTests: XCTestCase {
    /// Tile grids of the 6 × 9 latent of `fourStages`: one tile, uneven cuts, one position per tile.
    static let tileSizes = [TileSize(height: 4, width: 4), TileSize(height: 6, width: 9), TileSize(height: 1, width: 1),
                            TileSize(height: 5, width: 2), TileSize(height: 2, width: 7)]

    /// `fourStages` with another tile grid (streams reseeded to match the tile count).
    func sample(tileSize: TileSize, stages: Int) -> ProgressiveSample {
        var fields = ProgressiveSample.fourStages.fields.keepingStages(stages)
        fields.tileSize = tileSize
        var rng = SplitMix64(seed: UInt64(tileSize.height * 100 + tileSize.width))
        let streams = (0..<stages).map { _ in (0..<fields.tileCount).map { _ in rng.bytes(Int.random(in: 1...50, using: &rng)) } }
        return ProgressiveSample(fields: fields, streams: streams)
    }

    func testOneToFourStagesRoundTripOnSeveralTileGrids() throws {
        for tileSize in Self.tileSizes {
            for stages in 1...4 {
                let sample = sample(tileSize: tileSize, stages: stages)
                let bytes = try sample.encoded()
                let file = try ProgressiveVQCFile(bytes: bytes)
                let header = file.header
                let context = "tiles \(tileSize.height)×\(tileSize.width), \(stages) stages"
                XCTAssertEqual(try VQCFormat.version(of: bytes), 2, context)
                XCTAssertEqual(header.version, 2, context)
                XCTAssertEqual(header.fields, sample.fields, context)
                XCTAssertEqual(header.stageCount, stages, context)
                XCTAssertEqual(header.tileCount, sample.fields.tileCount, context)
                XCTAssertEqual(header.headerByteCount, 53 + 12 + stages * (7 + 8 * header.tileCount), context)
                XCTAssertEqual(header.fileByteCount, bytes.count, context)
                XCTAssertEqual(header.payloadByteCount, sample.streams.joined().reduce(0) { $0 + $1.count }, context)
                // Stage-major, contiguous, starting right after the header.
                let entries = header.streams.flatMap { $0 }
                XCTAssertEqual(entries.first?.offset, header.headerByteCount, context)
                XCTAssertTrue(zip(entries, entries.dropFirst()).allSatisfy { $0.end == $1.offset }, context)
                for stage in 1...stages {
                    XCTAssertEqual(header.latent(ofStage: stage).groups, [1, 2, 4, 8][stage - 1], context)
                    for tile in 0..<header.tileCount {
                        XCTAssertEqual(Array(try file.stream(stage: stage, tile: tile)), sample.streams[stage - 1][tile], context)
                    }
                }
                XCTAssertEqual(file.verifyAllStreams(), [:], context)
                XCTAssertEqual(try ProgressiveVQCHeader.read(from: bytes), header, "the header alone reads the same")
                XCTAssertEqual(try VQCWriter.encode(header.fields, stageStreams: sample.streams), bytes, "writing is deterministic")
            }
        }
    }

    func testTruncationToEveryStageCountIsTheDirectlyWrittenFile() throws {
        for tileSize in Self.tileSizes {
            let full = sample(tileSize: tileSize, stages: 4)
            let file = try ProgressiveVQCFile(bytes: try full.encoded())
            for k in 1...4 {
                let direct = try full.keepingStages(k).encoded()
                let cut = try file.truncated(toStages: k)
                XCTAssertEqual(cut.bytes, direct, "tiles \(tileSize.height)×\(tileSize.width), cut to \(k) stages")
                XCTAssertEqual(cut.header.fields, full.fields.keepingStages(k))
                XCTAssertEqual(file.header.fileByteCount(stages: k), direct.count, "the cut size is known without cutting")
                // A cut file is a prefix of the payload and keeps each stage section byte for byte.
                let cutHeader = cut.header.headerByteCount
                XCTAssertEqual(cut.bytes[cutHeader...], file.bytes[file.header.headerByteCount...].prefix(direct.count - cutHeader))
                for j in 1...k {
                    XCTAssertEqual(cut.header.streams[j - 1].map(\.crc32), file.header.streams[j - 1].map(\.crc32))
                }
                // Cutting again, or in steps, lands on the same file.
                for j in 1...k {
                    XCTAssertEqual(try cut.truncated(toStages: j).bytes, try full.keepingStages(j).encoded())
                }
            }
        }
    }

    func testTruncationToAStageCountTheFileDoesNotHoldIsATypedError() throws {
        let file = try ProgressiveVQCFile(bytes: try ProgressiveSample.fourStages.encoded())
        XCTAssertEqual(containerError { _ = try file.truncated(toStages: 0) }, .stageNotPresent(requested: 0, present: 4))
        XCTAssertEqual(containerError { _ = try file.truncated(toStages: 5) }, .stageNotPresent(requested: 5, present: 4))
        XCTAssertEqual(containerError { _ = try file.truncated(toStages: -1) }, .stageNotPresent(requested: -1, present: 4))
        let one = try file.truncated(toStages: 1)
        XCTAssertEqual(containerError { _ = try one.truncated(toStages: 2) }, .stageNotPresent(requested: 2, present: 1))
        XCTAssertEqual(try one.truncated(toStages: 1).bytes, one.bytes)
    }

    func testRandomDescriptionsRoundTripAndTruncate() throws {
        var rng = SplitMix64(seed: 21)
        for _ in 0..<300 {
            let sample = ProgressiveSample.random(&rng)
            let bytes = try sample.encoded()
            let file = try ProgressiveVQCFile(bytes: bytes)
            XCTAssertEqual(file.header.fields, sample.fields)
            XCTAssertEqual(file.header.headerByteCount, sample.fields.headerByteCount)
            XCTAssertEqual(try file.header.streams.indices.map { stage in
                try (0..<file.header.tileCount).map { Array(try file.stream(stage: stage + 1, tile: $0)) }
            }, sample.streams)
            let k = Int.random(in: 1...sample.fields.stageCount, using: &rng)
            XCTAssertEqual(try file.truncated(toStages: k).bytes, try sample.keepingStages(k).encoded(), "\(sample.fields)")
        }
    }

    /// Version dispatch: each reader takes its own version; VQCFormat says which is which.
    func testVersionsAreToldApartAndVersion1ReadsAsBefore() throws {
        let v1 = try Sample.small.encoded()
        let v2 = try ProgressiveSample.fourStages.encoded()
        XCTAssertEqual(try VQCFormat.version(of: v1), 1)
        XCTAssertEqual(try VQCFormat.version(of: v2), 2)
        XCTAssertEqual(containerError { _ = try VQCFile(bytes: v2) }, .unsupportedVersion(found: 2, supported: 1))
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: v1) }, .unsupportedVersion(found: 1, supported: 2))
        XCTAssertEqual(containerError { _ = try ProgressiveVQCHeader.read(from: v1) }, .unsupportedVersion(found: 1, supported: 2))
        for version: UInt64 in [0, 3, 0x0102] {
            var other = v2
            Damage.set(&other, at: Layout.version, version, count: 2)
            XCTAssertEqual(containerError { _ = try VQCFormat.version(of: other) },
                           .unsupportedVersion(found: UInt16(version), supported: 2))
            XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: other) },
                           .unsupportedVersion(found: UInt16(version), supported: 2))
        }
        XCTAssertEqual(containerError { _ = try VQCFormat.version(of: Array(v2.prefix(9))) }, .truncatedHeader(needed: 10, present: 9))
        XCTAssertEqual(containerError { _ = try VQCFormat.version(of: [0x89, 0x50, 0x4E, 0x47]) }, .pngGiven)
        XCTAssertEqual(containerError { _ = try VQCFormat.version(of: Array("GIF8".utf8)) }, .badSignature(found: Array("GIF8".utf8)))
    }
}
