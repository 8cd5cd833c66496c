import XCTest
@testable import Container

/// Each way a file can be damaged gives its own error case, with the right facts.
final class MalformedTests: XCTestCase {
    var good: [UInt8] = []

    override func setUpWithError() throws {
        good = try Sample.small.encoded()
    }

    func error(_ bytes: [UInt8], limits: ContainerLimits = ContainerLimits()) -> ContainerError? {
        containerError { _ = try VQCFile(bytes: bytes, limits: limits) }
    }

    // MARK: Signature and version

    func testNotAVQCFile() {
        let gif = Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0]
        XCTAssertEqual(error(gif), .badSignature(found: Array(gif.prefix(8))))
        XCTAssertEqual(error(Array("abc".utf8)), .badSignature(found: Array("abc".utf8)), "short: not a .vqc, not truncated")
        XCTAssertEqual(error([0x89, 0x56, 0x51, 0x44]), .badSignature(found: [0x89, 0x56, 0x51, 0x44]))
    }

    func testPNGIsRecognised() {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
        XCTAssertEqual(error(png), .pngGiven)
        XCTAssertEqual(error(Array(png.prefix(4))), .pngGiven)
    }

    func testSignatureDamagedInTransferIsReportedAsSuch() {
        var lf = good
        lf.remove(at: 4)  // CR LF → LF
        XCTAssertEqual(error(lf), .badSignature(found: Array(lf.prefix(8))))
        var sevenBit = good
        sevenBit[0] &= 0x7F
        XCTAssertEqual(error(sevenBit), .badSignature(found: Array(sevenBit.prefix(8))))
        XCTAssertTrue(error(sevenBit)!.description.contains("binary mode"))
    }

    func testOtherVersionsAreRefused() {
        var v2 = good
        v2[Layout.version] = 2
        XCTAssertEqual(error(v2), .unsupportedVersion(found: 2, supported: 1), "checked before the CRC")
        var v0 = good
        v0[Layout.version] = 0
        XCTAssertEqual(error(v0), .unsupportedVersion(found: 0, supported: 1))
        var v256 = good
        v256[Layout.version + 1] = 1
        XCTAssertEqual(error(v256), .unsupportedVersion(found: 257, supported: 1))
    }

    // MARK: CRCs

    func testAFlippedBitAnywhereInTheHeaderIsACRCMismatch() {
        let preambleEnd = 62, headerEnd = 166
        // Every bit except those of the signature, the version and the name length, which are checked before any CRC.
        let unchecked = Set(0..<Layout.flags).union([Layout.modelNameLength])
        for offset in 0..<headerEnd where !unchecked.contains(offset) {
            for bit in 0..<8 {
                var bad = good
                bad[offset] ^= 1 << bit
                let expected: ContainerError
                if offset < preambleEnd + 4 {
                    expected = .headerCRCMismatch(stored: UInt32(bad.littleEndian(at: preambleEnd, count: 4)),
                                                  computed: crc32(bad[0..<preambleEnd]))
                } else {
                    expected = .headerCRCMismatch(stored: UInt32(bad.littleEndian(at: headerEnd - 4, count: 4)),
                                                  computed: crc32(bad[0..<headerEnd - 4]))
                }
                XCTAssertEqual(error(bad), expected, "bit \(bit) of byte \(offset)")
            }
        }
    }

    func testAFlippedBitInATileIsThatTilesCRCMismatchAndSparesTheOthers() throws {
        let header = try VQCHeader.read(from: good)
        for (index, tile) in header.tiles.enumerated() {
            var bad = good
            bad[tile.offset + tile.length / 2] ^= 0x80
            let file = try VQCFile(bytes: bad)
            let expected = ContainerError.tileCRCMismatch(tile: index, stored: tile.crc32,
                                                          computed: crc32(bad[tile.offset..<tile.end]))
            XCTAssertEqual(containerError { _ = try file.tileStream(index) }, expected)
            XCTAssertEqual(file.verifyAllTiles(), [index: expected])
            for other in header.tiles.indices where other != index {
                XCTAssertEqual(Array(try file.tileStream(other)), Sample.small.streams[other])
            }
        }
    }

    // MARK: Field rules, with CRCs recomputed so the field check is what fires

    func testNameLengthIsCheckedBeforeItPlacesTheCRC() {
        for length: UInt8 in [0, 65, 255] {
            var bad = good
            bad[Layout.modelNameLength] = length
            XCTAssertEqual(error(bad), .invalidField(.modelNameLength, found: UInt64(length), allowed: "1 to 64"))
        }
    }

    func testInvalidFieldValues() {
        let cases: [(offset: Int, count: Int, value: UInt64, error: ContainerError)] = [
            (Layout.flags, 2, 1, .invalidField(.flags, found: 1, allowed: "0")),
            (Layout.colorType, 1, 2, .invalidField(.colorType, found: 2, allowed: "1 (gray) or 3 (RGB)")),
            (Layout.colorType, 1, 0, .invalidField(.colorType, found: 0, allowed: "1 (gray) or 3 (RGB)")),
            (Layout.bitDepth, 1, 3, .invalidField(.bitDepth, found: 3, allowed: "1, 2, 4, 8 or 16")),
            (Layout.bitDepth, 1, 0, .invalidField(.bitDepth, found: 0, allowed: "1, 2, 4, 8 or 16")),
            (Layout.modelName + 3, 1, 0x07, .invalidField(.modelName, found: 7, allowed: "printable ASCII (0x20 to 0x7E)")),
            (Layout.modelName, 1, 0xC3, .invalidField(.modelName, found: 0xC3, allowed: "printable ASCII (0x20 to 0x7E)")),
            (Layout.width, 4, 0, .invalidField(.width, found: 0, allowed: "at least 1")),
            (Layout.height, 4, 0, .invalidField(.height, found: 0, allowed: "at least 1")),
            (Layout.stride, 1, 3, .invalidField(.stride, found: 3, allowed: "1, 2, 4, 8, 16 or 32")),
            (Layout.stride, 1, 64, .invalidField(.stride, found: 64, allowed: "1, 2, 4, 8, 16 or 32")),
            (Layout.stride, 1, 0, .invalidField(.stride, found: 0, allowed: "1, 2, 4, 8, 16 or 32")),
            (Layout.groups, 1, 0, .invalidField(.groups, found: 0, allowed: "at least 1")),
            (Layout.codebookSize, 2, 1, .invalidField(.codebookSize, found: 1, allowed: "at least 2")),
            (Layout.tileHeight, 4, 0, .invalidField(.tileHeight, found: 0, allowed: "1 to 6 (the latent height)")),
            (Layout.tileHeight, 4, 7, .invalidField(.tileHeight, found: 7, allowed: "1 to 6 (the latent height)")),
            (Layout.tileWidth, 4, 10, .invalidField(.tileWidth, found: 10, allowed: "1 to 9 (the latent width)")),
        ]
        for c in cases {
            XCTAssertEqual(error(Damage.field(good, at: c.offset, c.value, count: c.count)), c.error, "\(c)")
        }
    }

    func testLatentSizeMustFollowFromImageSizeAndStride() {
        XCTAssertEqual(error(Damage.field(good, at: Layout.latentHeight, 7, count: 4)),
                       .inconsistentGeometry(.latentHeight, expected: 6, found: 7))
        XCTAssertEqual(error(Damage.field(good, at: Layout.latentWidth, 8, count: 4)),
                       .inconsistentGeometry(.latentWidth, expected: 9, found: 8))
        // 72 pixels at stride 8 is 9 columns, as is 70; 73 is 10.
        XCTAssertNotNil(try? VQCHeader.read(from: Damage.field(good, at: Layout.width, 72, count: 4)))
        XCTAssertEqual(error(Damage.field(good, at: Layout.width, 73, count: 4)),
                       .inconsistentGeometry(.latentWidth, expected: 10, found: 9))
        XCTAssertEqual(error(Damage.field(good, at: Layout.stride, 4, count: 1)),
                       .inconsistentGeometry(.latentHeight, expected: 12, found: 6))
    }

    func testLimits() {
        XCTAssertEqual(error(Damage.field(good, at: Layout.width, 70_000, count: 4)),
                       .limitExceeded(.width, value: 70_000, limit: 65535))
        XCTAssertEqual(error(Damage.field(good, at: Layout.height, 0xFFFF_FFFF, count: 4)),
                       .limitExceeded(.height, value: 0xFFFF_FFFF, limit: 65535))
        let square = Damage.fields(good, [(Layout.width, 65535, 4), (Layout.height, 65535, 4)])
        XCTAssertEqual(error(square), .limitExceeded(.pixelCount, value: 65535 * 65535, limit: 1 << 28))
        XCTAssertEqual(error(Damage.field(good, at: Layout.groups, 17, count: 1)),
                       .limitExceeded(.groups, value: 17, limit: 16))
        XCTAssertEqual(error(Damage.field(good, at: Layout.codebookSize, 4097, count: 2)),
                       .limitExceeded(.codebookSize, value: 4097, limit: 4096))
        XCTAssertEqual(error(good, limits: ContainerLimits(maxTiles: 5)), .limitExceeded(.tileCount, value: 6, limit: 5))
        XCTAssertEqual(error(good, limits: ContainerLimits(maxDimension: 69)), .limitExceeded(.width, value: 70, limit: 69))
        XCTAssertEqual(error(good, limits: ContainerLimits(maxPixels: 3149)), .limitExceeded(.pixelCount, value: 3150, limit: 3149))
        XCTAssertNotNil(try? VQCFile(bytes: good, limits: ContainerLimits(maxDimension: 70, maxPixels: 3150, maxGroups: 2,
                                                                           maxCodebookSize: 512, maxTiles: 6)),
                        "limits are inclusive")
    }

    /// A header claiming an enormous image is refused from its fields alone: nothing sized from them
    /// is allocated (allocating 2^31 tile entries here would take 48 GiB and crash the test).
    func testHugeClaimsAreRefusedBeforeAnyAllocation() {
        var huge = good
        Damage.set(&huge, at: Layout.width, 0xFFFF_FFFF, count: 4)
        Damage.set(&huge, at: Layout.height, 0xFFFF_FFFF, count: 4)
        Damage.set(&huge, at: Layout.stride, 1, count: 1)
        Damage.set(&huge, at: Layout.latentHeight, 0xFFFF_FFFF, count: 4)
        Damage.set(&huge, at: Layout.latentWidth, 0xFFFF_FFFF, count: 4)
        Damage.set(&huge, at: Layout.tileHeight, 1, count: 4)
        Damage.set(&huge, at: Layout.tileWidth, 1, count: 4)
        Damage.reseal(&huge, headerEnd: nil)
        XCTAssertEqual(error(huge), .limitExceeded(.width, value: 0xFFFF_FFFF, limit: 65535))

        // With every limit lifted, the format's own ceilings still hold...
        let lifted = ContainerLimits(maxDimension: .max, maxPixels: .max, maxGroups: .max, maxCodebookSize: .max, maxTiles: .max)
        XCTAssertEqual(error(huge, limits: lifted),
                       .limitExceeded(.pixelCount, value: 0xFFFF_FFFF * 0xFFFF_FFFF, limit: UInt64(Int.max)))
        for field in [Layout.width, Layout.height, Layout.latentHeight, Layout.latentWidth] {
            Damage.set(&huge, at: field, 1 << 31, count: 4)
        }
        Damage.reseal(&huge, headerEnd: nil)
        XCTAssertEqual(error(huge, limits: lifted), .limitExceeded(.tileCount, value: 1 << 62, limit: 0xFFFF_FFFF))
        // ...and a tile table of 2^31 entries is compared with the bytes present before it is allocated.
        Damage.set(&huge, at: Layout.tileWidth, 1 << 31, count: 4)
        Damage.reseal(&huge, headerEnd: nil)
        XCTAssertEqual(error(huge, limits: lifted), .truncatedHeader(needed: 59 + 11 + 16 << 31, present: good.count))
    }

    // MARK: Tile table and file size

    func testTileTableMustBeContiguous() {
        let headerEnd = 166
        var moved = good
        Damage.set(&moved, at: Damage.tileEntry(good, 0), 170, count: 8)
        Damage.reseal(&moved, headerEnd: headerEnd)
        XCTAssertEqual(error(moved), .inconsistentTileTable(tile: 0, expectedOffset: 166, foundOffset: 170))

        var longer = good  // tile 2 claims 121 bytes: tile 3 then starts one byte early
        Damage.set(&longer, at: Damage.tileEntry(good, 2) + 8, 121, count: 4)
        Damage.reseal(&longer, headerEnd: headerEnd)
        XCTAssertEqual(error(longer), .inconsistentTileTable(tile: 3, expectedOffset: 325, foundOffset: 324))

        var empty = good
        Damage.set(&empty, at: Damage.tileEntry(good, 1) + 8, 0, count: 4)
        Damage.reseal(&empty, headerEnd: headerEnd)
        XCTAssertEqual(error(empty), .emptyTile(tile: 1))

        var beyond = good  // the last tile claims 5 more bytes than the file has
        Damage.set(&beyond, at: Damage.tileEntry(good, 5) + 8, 14, count: 4)
        Damage.reseal(&beyond, headerEnd: headerEnd)
        XCTAssertEqual(error(beyond), .truncatedTile(tile: 5, expectedEnd: 657, fileSize: 652))

        var shorter = good  // the last tile claims 4 bytes fewer: the file has 4 bytes too many
        Damage.set(&shorter, at: Damage.tileEntry(good, 5) + 8, 5, count: 4)
        Damage.reseal(&shorter, headerEnd: headerEnd)
        XCTAssertEqual(error(shorter), .trailingBytes(expectedSize: 648, fileSize: 652))
    }

    func testTrailingBytesAreRefused() {
        XCTAssertEqual(error(good + [0]), .trailingBytes(expectedSize: 652, fileSize: 653))
        XCTAssertEqual(error(good + good), .trailingBytes(expectedSize: 652, fileSize: 1304))
    }

    func testTruncatedInsideATile() {
        XCTAssertEqual(error(Array(good.prefix(166))), .truncatedTile(tile: 0, expectedEnd: 203, fileSize: 166))
        XCTAssertEqual(error(Array(good.prefix(651))), .truncatedTile(tile: 5, expectedEnd: 652, fileSize: 651))
        // The header alone still reads, and shows which tiles survived.
        let prefix = Array(good.prefix(400))
        let header = try! VQCHeader.read(from: prefix)
        XCTAssertEqual(header.verifyTiles(in: prefix),
                       [4: .truncatedTile(tile: 4, expectedEnd: 643, fileSize: 400),
                        5: .truncatedTile(tile: 5, expectedEnd: 652, fileSize: 400)])
    }

    // MARK: Model identity

    func testRequireModel() throws {
        let header = try VQCHeader.read(from: good)
        XCTAssertNoThrow(try header.requireModel(name: "vqc-test-s8", checksum: 0x0123_4567_89AB_CDEF))
        XCTAssertEqual(containerError { try header.requireModel(name: "vqc-test-s8", checksum: 1) },
                       .wrongModel(fileModel: "vqc-test-s8", fileChecksum: 0x0123_4567_89AB_CDEF,
                                   givenModel: "vqc-test-s8", givenChecksum: 1))
        XCTAssertEqual(containerError { try header.requireModel(name: "other", checksum: 0x0123_4567_89AB_CDEF) },
                       .wrongModel(fileModel: "vqc-test-s8", fileChecksum: 0x0123_4567_89AB_CDEF,
                                   givenModel: "other", givenChecksum: 0x0123_4567_89AB_CDEF))
    }
}
