import XCTest
@testable import Container

/// The committed files under `Fixtures/golden` and `Fixtures/malformed` are what the writer produces
/// today, byte for byte, and each malformed file fails the way `Fixtures/README.md` says.
final class GoldenTests: XCTestCase {
    func testSmallGoldenFileIsWhatTheWriterProduces() throws {
        try Fixtures.assertMatches(try Sample.small.encoded(), "golden/small.vqc")
    }

    func testGray16GoldenFileIsWhatTheWriterProduces() throws {
        try Fixtures.assertMatches(try Sample.gray16.encoded(), "golden/gray16.vqc")
    }

    /// The start of small.vqc as written out by hand in `Formats/vqc.md` §7.
    func testSmallGoldenFileStartsAsTheSpecSays() throws {
        let expected: [UInt8] = [
            0x89, 0x56, 0x51, 0x43, 0x0d, 0x0a, 0x1a, 0x0a, 0x01, 0x00, 0x00, 0x00, 0x46, 0x00, 0x00, 0x00,
            0x2d, 0x00, 0x00, 0x00, 0x03, 0x08, 0x08, 0x02, 0x00, 0x02, 0x06, 0x00, 0x00, 0x00, 0x09, 0x00,
            0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45,
            0x23, 0x01, 0x0b, 0x76, 0x71, 0x63, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x73, 0x38,
        ]
        let file = try Fixtures.read("golden/small.vqc")
        XCTAssertEqual(Array(file.prefix(expected.count)), expected)
        // Tile 0 starts at 59 + 11 + 16·6 = 166, right after the header.
        XCTAssertEqual(file[66..<74], [166, 0, 0, 0, 0, 0, 0, 0])
    }

    func testSmallGoldenFileReadsBackAsDescribed() throws {
        let file = try VQCFile(bytes: try Fixtures.read("golden/small.vqc"))
        let header = file.header
        XCTAssertEqual(header.version, 1)
        XCTAssertEqual(header.fields, Sample.small.fields)
        XCTAssertEqual(header.tileCount, 6)
        XCTAssertEqual(header.tileRows, 2)
        XCTAssertEqual(header.tileColumns, 3)
        XCTAssertEqual(header.headerByteCount, 166)
        XCTAssertEqual(header.tiles.map(\.offset), [166, 203, 204, 324, 388, 643])
        XCTAssertEqual(header.tiles.map(\.length), [37, 1, 120, 64, 255, 9])
        XCTAssertEqual(header.payloadByteCount, 486)
        XCTAssertEqual(header.fileByteCount, 652)
        XCTAssertEqual(file.bytes.count, 652)
        XCTAssertEqual(header.bitsPerPixel, 8 * 652 / (70 * 45), accuracy: 1e-12)
        XCTAssertEqual((0..<6).map(header.latentRect(ofTile:)), [
            LatentRect(top: 0, left: 0, height: 4, width: 4), LatentRect(top: 0, left: 4, height: 4, width: 4),
            LatentRect(top: 0, left: 8, height: 4, width: 1), LatentRect(top: 4, left: 0, height: 2, width: 4),
            LatentRect(top: 4, left: 4, height: 2, width: 4), LatentRect(top: 4, left: 8, height: 2, width: 1),
        ])
        for (index, stream) in Sample.small.streams.enumerated() {
            XCTAssertEqual(Array(try file.tileStream(index)), stream)
        }
        XCTAssertEqual(file.verifyAllTiles(), [:])
    }

    func testGray16GoldenFileReadsBackAsDescribed() throws {
        let file = try VQCFile(bytes: try Fixtures.read("golden/gray16.vqc"))
        XCTAssertEqual(file.header.fields, Sample.gray16.fields)
        XCTAssertEqual(file.header.colorType.channels, 1)
        XCTAssertEqual(file.header.tileRows, 1)
        XCTAssertEqual(file.header.tileColumns, 3)
        XCTAssertEqual(file.header.latentRect(ofTile: 2), LatentRect(top: 0, left: 8, height: 5, width: 1))
        XCTAssertEqual(file.header.headerByteCount, 59 + 14 + 16 * 3)
        XCTAssertEqual(file.bytes.count, 59 + 14 + 16 * 3 + 504)
    }

    // MARK: - Fixtures/malformed

    /// Each committed malformed file: how it is made from small.vqc, and the error it must give.
    struct MalformedFixture {
        let name: String
        let bytes: [UInt8]
        let error: ContainerError
        /// true when the error comes from reading a tile, not from opening the file.
        let fromTile: Int?
    }

    static func malformedFixtures() throws -> [MalformedFixture] {
        let good = try Sample.small.encoded()
        var fixtures: [MalformedFixture] = []

        fixtures.append(MalformedFixture(name: "empty.vqc", bytes: [],
                                         error: .truncatedHeader(needed: 8, present: 0), fromTile: nil))

        fixtures.append(MalformedFixture(name: "truncated-header.vqc", bytes: Array(good.prefix(100)),
                                         error: .truncatedHeader(needed: 166, present: 100), fromTile: nil))

        // Cut in the middle of tile 3 (bytes 324 ..< 388).
        fixtures.append(MalformedFixture(name: "truncated.vqc", bytes: Array(good.prefix(350)),
                                         error: .truncatedTile(tile: 3, expectedEnd: 388, fileSize: 350), fromTile: nil))

        // One flipped bit in tile 4 (bytes 388 ..< 643): the file opens, tile 4 fails its CRC.
        var badTile = good
        badTile[400] ^= 0x10
        fixtures.append(MalformedFixture(
            name: "bad-crc.vqc", bytes: badTile,
            error: .tileCRCMismatch(tile: 4, stored: crc32(good[388..<643]), computed: crc32(badTile[388..<643])),
            fromTile: 4))

        // One flipped bit in the model checksum: the preamble CRC catches it.
        var badHeader = good
        badHeader[Layout.modelChecksum] ^= 0x01
        fixtures.append(MalformedFixture(
            name: "bad-header-crc.vqc", bytes: badHeader,
            error: .headerCRCMismatch(stored: UInt32(good.littleEndian(at: 62, count: 4)), computed: crc32(badHeader[0..<62])),
            fromTile: nil))

        // A text-mode transfer: every CR LF became LF.
        var textMode: [UInt8] = []
        for (i, byte) in good.enumerated() where !(byte == 0x0D && i + 1 < good.count && good[i + 1] == 0x0A) {
            textMode.append(byte)
        }
        fixtures.append(MalformedFixture(name: "text-mode.vqc", bytes: textMode,
                                         error: .badSignature(found: Array(textMode.prefix(8))), fromTile: nil))

        fixtures.append(MalformedFixture(name: "version2.vqc", bytes: Damage.field(good, at: Layout.version, 2, count: 2),
                                         error: .unsupportedVersion(found: 2, supported: 1), fromTile: nil))

        fixtures.append(MalformedFixture(name: "trailing-bytes.vqc", bytes: good + Array("\n".utf8),
                                         error: .trailingBytes(expectedSize: 652, fileSize: 653), fromTile: nil))

        // Width 4,000,000,000 with consistent CRCs: refused by the limit before anything is allocated.
        fixtures.append(MalformedFixture(
            name: "huge-dimensions.vqc", bytes: Damage.field(good, at: Layout.width, 4_000_000_000, count: 4),
            error: .limitExceeded(.width, value: 4_000_000_000, limit: 65535), fromTile: nil))
        return fixtures
    }

    func testMalformedFixturesAreCommittedAndFailAsDocumented() throws {
        for fixture in try Self.malformedFixtures() {
            try Fixtures.assertMatches(fixture.bytes, "malformed/" + fixture.name)
            if let tile = fixture.fromTile {
                let file = try VQCFile(bytes: fixture.bytes)
                XCTAssertEqual(containerError { _ = try file.tileStream(tile) }, fixture.error, fixture.name)
                XCTAssertEqual(file.verifyAllTiles(), [tile: fixture.error], fixture.name)
            } else {
                XCTAssertEqual(containerError { _ = try VQCFile(bytes: fixture.bytes) }, fixture.error, fixture.name)
            }
        }
    }

    // MARK: Version 2

    func testProgressiveGoldenFileIsWhatTheWriterProduces() throws {
        try Fixtures.assertMatches(try ProgressiveSample.fourStages.encoded(), "golden/progressive.vqc")
    }

    /// The start of progressive.vqc as written out by hand in `Formats/vqc.md` §8.7.
    func testProgressiveGoldenFileStartsAsTheSpecSays() throws {
        let expected: [UInt8] = [
            0x89, 0x56, 0x51, 0x43, 0x0d, 0x0a, 0x1a, 0x0a, 0x02, 0x00, 0x00, 0x00, 0x46, 0x00, 0x00, 0x00,
            0x2d, 0x00, 0x00, 0x00, 0x03, 0x08, 0x08, 0x04, 0x06, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
            0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
            0x0c, 0x76, 0x71, 0x63, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x72, 0x76, 0x71,
        ]
        let file = try Fixtures.read("golden/progressive.vqc")
        XCTAssertEqual(Array(file.prefix(expected.count)), expected)
        // Stage 1's section at 65: 1 group of 512 codes, then tile 0's entry: 5 bytes, its CRC-32.
        let tile0 = ProgressiveSample.fourStages.streams[0][0]
        XCTAssertEqual(file[65..<72], [0x01, 0x00, 0x02, 0x05, 0x00, 0x00, 0x00])
        XCTAssertEqual(file.littleEndian(at: 72, count: 4), UInt64(crc32(tile0)))
        // Stage 2's section at 65 + 55 = 120: 2 groups of 512, tile 0's length.
        let stage2Tile0 = UInt8(ProgressiveSample.fourStages.streams[1][0].count)
        XCTAssertEqual(file[120..<127], [0x02, 0x00, 0x02, stage2Tile0, 0x00, 0x00, 0x00])
        let header = try ProgressiveVQCHeader.read(from: file)
        XCTAssertEqual(header.headerByteCount, 285)
        XCTAssertEqual(file.count, 603)
        XCTAssertEqual(Array(file[285..<290]), tile0, "the payload starts with stage 1, tile 0")
        XCTAssertEqual((1...4).map(header.fileByteCount(stages:)), [136, 231, 371, 603])
    }

    /// Damaged copies of progressive.vqc, for the tests of programs that read version-2 files.
    func testProgressiveMalformedFixturesAreCommittedAndFailAsDocumented() throws {
        let sample = ProgressiveSample.fourStages
        let good = try sample.encoded()
        let header = try ProgressiveVQCHeader.read(from: good)

        // Cut in the middle of stage 3, tile 3 (bytes 380 ..< 397): stages 1 and 2 survive.
        let cut = Array(good.prefix(388))
        try Fixtures.assertMatches(cut, "malformed/progressive-truncated.vqc")
        XCTAssertEqual(header.stream(stage: 3, tile: 3).offset, 380)
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: cut) },
                       .truncatedStream(stage: 3, tile: 3, expectedEnd: 397, fileSize: 388))
        XCTAssertEqual(try ProgressiveVQCFile.readIntactStages(from: cut).file.bytes, try sample.keepingStages(2).encoded())

        // One flipped bit in stage 3, tile 2's stream (bytes 374 ..< 380).
        var badStream = good
        badStream[376] ^= 0x10
        try Fixtures.assertMatches(badStream, "malformed/progressive-bad-crc.vqc")
        let file = try ProgressiveVQCFile(bytes: badStream)
        XCTAssertEqual(file.verifyAllStreams(), [VQCStreamIndex(stage: 3, tile: 2): .streamCRCMismatch(
            stage: 3, tile: 2, stored: crc32(good[374..<380]), computed: crc32(badStream[374..<380]))])

        // One flipped bit in stage 3's section (bytes 175 ..< 230): its CRC fails, stages 1 and 2 read.
        var badTable = good
        badTable[204] ^= 0x01
        try Fixtures.assertMatches(badTable, "malformed/progressive-bad-stage-table.vqc")
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: badTable) }, .stageTableCRCMismatch(
            stage: 3, stored: UInt32(good.littleEndian(at: 226, count: 4)), computed: crc32(badTable[175..<226])))
        XCTAssertEqual(try ProgressiveVQCFile(bytes: badTable, stages: 2).bytes, try sample.keepingStages(2).encoded())
    }
}
