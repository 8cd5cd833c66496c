import XCTest
@testable import Container

/// Version 2: each malformed header field is refused with its own error and facts, before anything
/// sized from it is allocated. Field edits recompute the CRCs so that the field check is what fires.
final class ProgressiveMalformedTests: XCTestCase {
    var good: [UInt8] = []
    let tiles = 6
    let lifted = ContainerLimits(maxDimension: .max, maxPixels: .max, maxGroups: .max, maxCodebookSize: .max,
                                 maxTiles: .max, maxStages: .max, maxTotalGroups: .max, maxStreams: .max)

    override func setUpWithError() throws {
        good = try ProgressiveSample.fourStages.encoded()
    }

    func error(_ bytes: [UInt8], limits: ContainerLimits = ContainerLimits()) -> ContainerError? {
        containerError { _ = try ProgressiveVQCFile(bytes: bytes, limits: limits) }
    }

    func edited(_ edits: [(Int, UInt64, Int)]) -> [UInt8] { ProgressiveDamage.fields(good, tileCount: tiles, edits) }

    func section(_ stage: Int) -> Int { ProgressiveDamage.section(good, stage: stage, tileCount: tiles) }
    func entry(_ stage: Int, _ tile: Int) -> Int { ProgressiveDamage.entry(good, stage: stage, tile: tile, tileCount: tiles) }

    // MARK: Stage count

    func testStageCountZeroIsInvalid() {
        XCTAssertEqual(error(edited([(ProgressiveLayout.stageCount, 0, 1)])),
                       .invalidField(.stageCount, found: 0, allowed: "at least 1"))
    }

    /// A stage count above the limit is refused from the preamble; with the limits lifted, the sections
    /// it claims are compared with the bytes present before anything is allocated for them.
    func testHugeStageCountsAreRefusedWithoutAllocating() {
        XCTAssertEqual(error(edited([(ProgressiveLayout.stageCount, 17, 1)])), .limitExceeded(.stageCount, value: 17, limit: 16))
        XCTAssertEqual(error(edited([(ProgressiveLayout.stageCount, 255, 1)])), .limitExceeded(.stageCount, value: 255, limit: 16))
        XCTAssertEqual(error(edited([(ProgressiveLayout.stageCount, 255, 1)]), limits: lifted),
                       .truncatedHeader(needed: 53 + 12 + 255 * 55, present: good.count))
        XCTAssertEqual(error(edited([(ProgressiveLayout.stageCount, 16, 1)])),
                       .truncatedHeader(needed: 53 + 12 + 16 * 55, present: good.count))
        // A stage count of 3 where 4 sections were written: stage 4's section is read as payload.
        XCTAssertEqual(error(edited([(ProgressiveLayout.stageCount, 3, 1)])),
                       .trailingBytes(expectedSize: 53 + 12 + 3 * 55 + 141, fileSize: good.count))
    }

    func testStreamCountLimit() {
        XCTAssertEqual(error(good, limits: ContainerLimits(maxStreams: 23)), .limitExceeded(.streamCount, value: 24, limit: 23))
        XCTAssertNotNil(try? ProgressiveVQCFile(bytes: good, limits: ContainerLimits(maxStreams: 24)), "limits are inclusive")
        // 255 stages of 2^31 tiles with every limit lifted: the format's ceiling of 2^32 − 1 streams.
        var huge = good
        for (offset, value) in [(Layout.width, UInt64(1) << 31), (Layout.height, 1 << 31), (Layout.stride, 1),
                                (ProgressiveLayout.latentHeight, 1 << 31), (ProgressiveLayout.latentWidth, 1 << 31),
                                (ProgressiveLayout.tileHeight, 1 << 31), (ProgressiveLayout.tileWidth, 1),
                                (ProgressiveLayout.stageCount, 255)] {
            Damage.set(&huge, at: offset, value, count: offset == Layout.stride || offset == ProgressiveLayout.stageCount ? 1 : 4)
        }
        ProgressiveDamage.reseal(&huge, tileCount: 1)
        XCTAssertEqual(error(huge, limits: lifted), .limitExceeded(.streamCount, value: 255 << 31, limit: 0xFFFF_FFFF))
        Damage.set(&huge, at: ProgressiveLayout.stageCount, 1, count: 1)
        ProgressiveDamage.reseal(&huge, tileCount: 1)
        XCTAssertEqual(error(huge, limits: lifted), .truncatedHeader(needed: 53 + 12 + 7 + 8 << 31, present: good.count))
    }

    // MARK: Stage sections

    func testGroupsAndCodebookSizesOfAStage() {
        let cases: [(stage: Int, field: Int, count: Int, value: UInt64, error: ContainerError)] = [
            (1, ProgressiveLayout.stageGroups, 1, 0, .invalidStageField(stage: 1, .groups, found: 0, allowed: "at least 1")),
            (3, ProgressiveLayout.stageGroups, 1, 0, .invalidStageField(stage: 3, .groups, found: 0, allowed: "at least 1")),
            (2, ProgressiveLayout.stageGroups, 1, 17, .stageLimitExceeded(stage: 2, .groups, value: 17, limit: 16)),
            (2, ProgressiveLayout.stageCodebookSize, 2, 0,
             .invalidStageField(stage: 2, .codebookSize, found: 0, allowed: "at least 2")),
            (4, ProgressiveLayout.stageCodebookSize, 2, 1,
             .invalidStageField(stage: 4, .codebookSize, found: 1, allowed: "at least 2")),
            (1, ProgressiveLayout.stageCodebookSize, 2, 4097, .stageLimitExceeded(stage: 1, .codebookSize, value: 4097, limit: 4096)),
            (4, ProgressiveLayout.stageCodebookSize, 2, 65535, .stageLimitExceeded(stage: 4, .codebookSize, value: 65535, limit: 4096)),
        ]
        for c in cases {
            XCTAssertEqual(error(edited([(section(c.stage) + c.field, c.value, c.count)])), c.error, "\(c)")
        }
        // With the limits lifted, the format's own ceilings are the fields' widths: anything goes.
        XCTAssertNotNil(try? ProgressiveVQCFile(bytes: edited([(section(4) + ProgressiveLayout.stageCodebookSize, 65535, 2),
                                                               (section(4) + ProgressiveLayout.stageGroups, 255, 1)]),
                                                limits: lifted))
    }

    func testTotalGroupsLimit() {
        // Stages of 1, 2, 4, 8 groups: 7 after stage 3, 15 after stage 4.
        XCTAssertEqual(error(good, limits: ContainerLimits(maxTotalGroups: 14)), .limitExceeded(.totalGroups, value: 15, limit: 14))
        XCTAssertEqual(error(good, limits: ContainerLimits(maxTotalGroups: 6)), .limitExceeded(.totalGroups, value: 7, limit: 6))
        XCTAssertNotNil(try? ProgressiveVQCFile(bytes: good, limits: ContainerLimits(maxTotalGroups: 15)))
        // The first stages still read under a limit only the later ones exceed.
        XCTAssertEqual(try ProgressiveVQCFile(bytes: good, stages: 3, limits: ContainerLimits(maxTotalGroups: 7)).header.stageCount, 3)
    }

    func testAStageSectionIsCheckedBeforeItsFields() {
        // groups 0 in stage 2 without resealing: the section's CRC fires first.
        var bad = good
        bad[section(2)] = 0
        guard case .stageTableCRCMismatch(stage: 2, _, _) = error(bad) else { return XCTFail("\(String(describing: error(bad)))") }
    }

    // MARK: Stream table

    /// The table stores no offsets: each stream starts where the one before it (in file order) ends,
    /// so a wrong length misplaces every later stream, and the file's size no longer adds up.
    func testTheLengthsPlaceTheStreams() throws {
        XCTAssertEqual(error(edited([(entry(3, 2), 0, 4)])), .emptyStream(stage: 3, tile: 2))
        // Stage 1, tile 0 is 5 bytes long. One more: the streams claim one byte beyond the file.
        XCTAssertEqual(error(edited([(entry(1, 0), 6, 4)])),
                       .truncatedStream(stage: 4, tile: 5, expectedEnd: good.count + 1, fileSize: good.count))
        // One fewer: the last byte is left over, and the shifted streams fail their CRCs.
        let shorter = edited([(entry(1, 0), 4, 4)])
        XCTAssertEqual(error(shorter), .trailingBytes(expectedSize: good.count - 1, fileSize: good.count))
        let header = try ProgressiveVQCHeader.read(from: shorter)
        XCTAssertEqual(header.stream(stage: 1, tile: 1).offset, 285 + 4)
        XCTAssertEqual(Set(header.verifyStreams(in: shorter).keys).count, 24, "every stream is misplaced or cut")
    }

    /// Lengths that add up beyond the file: the file ends before the streams do.
    func testLengthsSummingBeyondTheFile() throws {
        XCTAssertEqual(error(edited([(entry(4, 5), 9 + 10, 4)])),
                       .truncatedStream(stage: 4, tile: 5, expectedEnd: good.count + 10, fileSize: good.count))
        // Stage 1, tile 0 claims 4 GB: every later stream follows it, and stage 1 is already cut short.
        let bad = edited([(entry(1, 0), 0xFFFF_FFFF, 4)])
        XCTAssertEqual(error(bad), .truncatedStream(stage: 1, tile: 0, expectedEnd: 285 + 0xFFFF_FFFF, fileSize: good.count))
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile.readIntactStages(from: bad) },
                       .truncatedStream(stage: 1, tile: 0, expectedEnd: 285 + 0xFFFF_FFFF, fileSize: good.count))
        XCTAssertEqual(try ProgressiveVQCHeader.read(from: bad).fileByteCount, good.count - 5 + 0xFFFF_FFFF,
                       "the header alone is valid")
    }

    // MARK: Preamble

    func testPreambleFieldsFollowVersion1sRules() {
        let cases: [(offset: Int, count: Int, value: UInt64, error: ContainerError)] = [
            (Layout.flags, 2, 1, .invalidField(.flags, found: 1, allowed: "0")),
            (Layout.colorType, 1, 2, .invalidField(.colorType, found: 2, allowed: "1 (gray) or 3 (RGB)")),
            (Layout.bitDepth, 1, 3, .invalidField(.bitDepth, found: 3, allowed: "1, 2, 4, 8 or 16")),
            (ProgressiveLayout.modelName, 1, 0x07, .invalidField(.modelName, found: 7, allowed: "printable ASCII (0x20 to 0x7E)")),
            (Layout.width, 4, 0, .invalidField(.width, found: 0, allowed: "at least 1")),
            (Layout.width, 4, 70_000, .limitExceeded(.width, value: 70_000, limit: 65535)),
            (Layout.stride, 1, 3, .invalidField(.stride, found: 3, allowed: "1, 2, 4, 8, 16 or 32")),
            (ProgressiveLayout.latentHeight, 4, 7, .inconsistentGeometry(.latentHeight, expected: 6, found: 7)),
            (ProgressiveLayout.latentWidth, 4, 8, .inconsistentGeometry(.latentWidth, expected: 9, found: 8)),
            (ProgressiveLayout.tileHeight, 4, 0, .invalidField(.tileHeight, found: 0, allowed: "1 to 6 (the latent height)")),
            (ProgressiveLayout.tileWidth, 4, 10, .invalidField(.tileWidth, found: 10, allowed: "1 to 9 (the latent width)")),
        ]
        for c in cases { XCTAssertEqual(error(edited([(c.offset, c.value, c.count)])), c.error, "\(c)") }
        XCTAssertEqual(error(good, limits: ContainerLimits(maxTiles: 5)), .limitExceeded(.tileCount, value: 6, limit: 5))
        for length: UInt8 in [0, 65, 255] {
            var bad = good
            bad[ProgressiveLayout.modelNameLength] = length
            XCTAssertEqual(error(bad), .invalidField(.modelNameLength, found: UInt64(length), allowed: "1 to 64"))
        }
    }

    /// A header claiming an enormous image is refused from its fields alone.
    func testHugeClaimsAreRefusedBeforeAnyAllocation() {
        var huge = good
        for field in [Layout.width, Layout.height, ProgressiveLayout.latentHeight, ProgressiveLayout.latentWidth] {
            Damage.set(&huge, at: field, 1 << 31, count: 4)
        }
        Damage.set(&huge, at: Layout.stride, 1, count: 1)
        Damage.set(&huge, at: ProgressiveLayout.tileHeight, 1, count: 4)
        Damage.set(&huge, at: ProgressiveLayout.tileWidth, 1, count: 4)
        ProgressiveDamage.reseal(&huge, tileCount: 1)
        XCTAssertEqual(error(huge), .limitExceeded(.width, value: 1 << 31, limit: 65535))
        XCTAssertEqual(error(huge, limits: lifted), .limitExceeded(.tileCount, value: 1 << 62, limit: 0xFFFF_FFFF))
    }

    // MARK: Writer

    /// The writer refuses, with the reader's errors, what the reader would refuse.
    func testTheWriterRefusesWhatTheReaderRefuses() {
        let sample = ProgressiveSample.fourStages
        func writerError(_ edit: (inout ProgressiveVQCHeaderFields, inout [[[UInt8]]]) -> Void,
                         limits: ContainerLimits = ContainerLimits()) -> ContainerError? {
            var fields = sample.fields, streams = sample.streams
            edit(&fields, &streams)
            return containerError { _ = try VQCWriter.encode(fields, stageStreams: streams, limits: limits) }
        }
        XCTAssertEqual(writerError { f, s in f.stages = []; s = [] }, .invalidField(.stageCount, found: 0, allowed: "at least 1"))
        XCTAssertEqual(writerError { f, s in f.stages = Array(repeating: VQCStage(groups: 1, codebookSize: 2), count: 17)
                           s = Array(repeating: s[0], count: 17) }, .limitExceeded(.stageCount, value: 17, limit: 16))
        XCTAssertEqual(writerError { f, _ in f.stages[1].groups = 0 }, .invalidStageField(stage: 2, .groups, found: 0, allowed: "at least 1"))
        XCTAssertEqual(writerError { f, _ in f.stages[2].codebookSize = 1 },
                       .invalidStageField(stage: 3, .codebookSize, found: 1, allowed: "at least 2"))
        XCTAssertEqual(writerError { f, _ in f.stages[3].codebookSize = 8192 },
                       .stageLimitExceeded(stage: 4, .codebookSize, value: 8192, limit: 4096))
        XCTAssertEqual(writerError { f, _ in f.latentHeight = 5 }, .inconsistentGeometry(.latentHeight, expected: 6, found: 5))
        XCTAssertEqual(writerError({ _, _ in }, limits: ContainerLimits(maxTotalGroups: 10)), .limitExceeded(.totalGroups, value: 15, limit: 10))
        XCTAssertEqual(writerError { _, s in s[2][4] = [] }, .emptyStream(stage: 3, tile: 4))
        XCTAssertEqual(containerError { try sample.fields.keepingStages(2).validate(limits: ContainerLimits(maxTotalGroups: 2)) },
                       .limitExceeded(.totalGroups, value: 3, limit: 2))
        XCTAssertNoThrow(try sample.fields.validate())
    }
}
