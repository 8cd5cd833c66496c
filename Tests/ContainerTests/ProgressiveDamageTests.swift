import XCTest
@testable import Container

/// Version 2: damage and cuts are reported for the stage and tile they hit, and the stages before
/// them still read.
final class ProgressiveDamageTests: XCTestCase {
    let sample = ProgressiveSample.fourStages
    var good: [UInt8] = []
    var header: ProgressiveVQCHeader!

    override func setUpWithError() throws {
        good = try sample.encoded()
        header = try ProgressiveVQCHeader.read(from: good)
    }

    func error(_ bytes: [UInt8]) -> ContainerError? { containerError { _ = try ProgressiveVQCFile(bytes: bytes) } }

    /// The layout the spec's example gives (§8.7).
    func testTheExampleFileHasTheDocumentedLayout() {
        XCTAssertEqual(header.headerByteCount, 53 + 12 + 4 * (7 + 8 * 6))
        XCTAssertEqual(header.headerByteCount, 285)
        XCTAssertEqual(good.count, 603)
        XCTAssertEqual(header.streams.map { $0.first!.offset }, [285, 301, 341, 426])
        XCTAssertEqual((1...4).map(header.fileByteCount(stages:)), [53 + 12 + 55 + 16, 53 + 12 + 110 + 56, 53 + 12 + 165 + 141, 603])
    }

    func testACorruptedStage3StreamIsThatStreamsCRCAndSparesStages1And2() throws {
        let entry = header.stream(stage: 3, tile: 2)
        var bad = good
        bad[entry.offset + entry.length / 2] ^= 0x04
        let expected = ContainerError.streamCRCMismatch(stage: 3, tile: 2, stored: entry.crc32,
                                                         computed: crc32(bad[entry.offset..<entry.end]))
        let file = try ProgressiveVQCFile(bytes: bad)
        XCTAssertEqual(containerError { _ = try file.stream(stage: 3, tile: 2) }, expected)
        XCTAssertEqual(file.verifyAllStreams(), [VQCStreamIndex(stage: 3, tile: 2): expected])
        for stage in 1...4 {
            for tile in 0..<6 where (stage, tile) != (3, 2) {
                XCTAssertEqual(Array(try file.stream(stage: stage, tile: tile)), sample.streams[stage - 1][tile])
            }
        }
        // Reading the first two stages gives the two-stage file; stage 3 is where intact reading stops.
        XCTAssertEqual(try ProgressiveVQCFile(bytes: bad, stages: 2).bytes, try sample.keepingStages(2).encoded())
        let (intact, problem) = try ProgressiveVQCFile.readIntactStages(from: bad)
        XCTAssertEqual(intact.bytes, try sample.keepingStages(2).encoded())
        XCTAssertEqual(problem, expected)
        // Stage 3 itself is read (its CRC is checked when its stream is).
        let three = try ProgressiveVQCFile(bytes: bad, stages: 3)
        XCTAssertEqual(three.verifyAllStreams(), [VQCStreamIndex(stage: 3, tile: 2): expected])
    }

    func testAFileCutInsideStage3StillGivesStages1And2() throws {
        let stage3 = header.streams[2]
        for cut in [stage3[0].offset, stage3[0].offset + 1, stage3[3].offset + 5, stage3[5].end - 1] {
            let prefix = Array(good.prefix(cut))
            let tile = stage3.firstIndex { $0.end > cut }!
            let expected = ContainerError.truncatedStream(stage: 3, tile: tile, expectedEnd: stage3[tile].end, fileSize: cut)
            XCTAssertEqual(error(prefix), expected, "cut at \(cut)")
            XCTAssertEqual(try ProgressiveVQCFile(bytes: prefix, stages: 2).bytes, try sample.keepingStages(2).encoded())
            XCTAssertEqual(try ProgressiveVQCFile(bytes: prefix, stages: 1).bytes, try sample.keepingStages(1).encoded())
            XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: prefix, stages: 3) }, expected)
            let (intact, problem) = try ProgressiveVQCFile.readIntactStages(from: prefix)
            XCTAssertEqual(intact.header.stageCount, 2)
            XCTAssertEqual(problem, expected)
        }
    }

    func testADamagedStage3TableSparesStages1And2() throws {
        let section = ProgressiveDamage.section(good, stage: 3, tileCount: 6)
        var bad = good
        bad[section + 12] ^= 0x01  // inside tile 1's entry
        let crcAt = section + 55 - 4
        let expected = ContainerError.stageTableCRCMismatch(stage: 3, stored: UInt32(bad.littleEndian(at: crcAt, count: 4)),
                                                            computed: crc32(bad[section..<crcAt]))
        XCTAssertEqual(error(bad), expected)
        XCTAssertEqual(containerError { _ = try ProgressiveVQCHeader.read(from: bad) }, expected)
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: bad, stages: 3) }, expected)
        XCTAssertEqual(try ProgressiveVQCFile(bytes: bad, stages: 2).bytes, try sample.keepingStages(2).encoded())
        let (intact, problem) = try ProgressiveVQCFile.readIntactStages(from: bad)
        XCTAssertEqual(intact.header.stageCount, 2)
        XCTAssertEqual(problem, expected)
    }

    func testIntactReadingOfAnIntactFileIsTheStrictReading() throws {
        let (file, problem) = try ProgressiveVQCFile.readIntactStages(from: good)
        XCTAssertEqual(file.bytes, good)
        XCTAssertNil(problem)
        let (joined, trailing) = try ProgressiveVQCFile.readIntactStages(from: good + [0x0A])
        XCTAssertEqual(joined.bytes, good)
        XCTAssertEqual(trailing, .trailingBytes(expectedSize: 603, fileSize: 604))
        XCTAssertEqual(error(good + [0x0A]), .trailingBytes(expectedSize: 603, fileSize: 604))
        XCTAssertEqual(try ProgressiveVQCFile(bytes: good + [0x0A], stages: 4).bytes, good, "the k-stage reader ignores what follows")
    }

    func testWhenStage1IsNotIntactNothingIsRead() throws {
        let entry = header.stream(stage: 1, tile: 4)
        var bad = good
        bad[entry.offset] ^= 0xFF
        let expected = ContainerError.streamCRCMismatch(stage: 1, tile: 4, stored: entry.crc32, computed: crc32(bad[entry.offset..<entry.end]))
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile.readIntactStages(from: bad) }, expected)
        let cut = Array(good.prefix(entry.offset))
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile.readIntactStages(from: cut) },
                       .truncatedStream(stage: 1, tile: 4, expectedEnd: entry.end, fileSize: entry.offset))
    }

    func testAskingForStagesTheFileDoesNotHold() {
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: good, stages: 5) }, .stageNotPresent(requested: 5, present: 4))
        XCTAssertEqual(containerError { _ = try ProgressiveVQCFile(bytes: good, stages: 0) }, .stageNotPresent(requested: 0, present: 4))
    }

    /// Every proper prefix is a truncation, with the exact facts, never damage; from the end of the
    /// header on, the stages complete in the prefix read on their own.
    func testEveryPrefixIsATruncationAndItsCompleteStagesRead() throws {
        for source in [sample, sample.keepingStages(1), sample.keepingStages(2)] {
            let file = try source.encoded()
            let header = try ProgressiveVQCHeader.read(from: file)
            let entries = header.streams.enumerated().flatMap { stage, table in
                table.enumerated().map { (VQCStreamIndex(stage: stage + 1, tile: $0), $1) }
            }
            for n in 0..<file.count {
                let prefix = Array(file.prefix(n))
                let expected: ContainerError
                switch n {
                case ..<8: expected = .truncatedHeader(needed: 8, present: n)
                case ..<10: expected = .truncatedHeader(needed: 10, present: n)
                case ..<49: expected = .truncatedHeader(needed: 49, present: n)
                case ..<(53 + 12): expected = .truncatedHeader(needed: 53 + 12, present: n)
                case ..<header.headerByteCount: expected = .truncatedHeader(needed: header.headerByteCount, present: n)
                default:
                    let (index, entry) = entries.first { $0.1.end > n }!
                    expected = .truncatedStream(stage: index.stage, tile: index.tile, expectedEnd: entry.end, fileSize: n)
                }
                XCTAssertEqual(error(prefix), expected, "prefix of \(n) bytes")
                guard n >= header.headerByteCount else {
                    XCTAssertEqual(containerError { _ = try ProgressiveVQCFile.readIntactStages(from: prefix) }, expected)
                    continue
                }
                XCTAssertEqual(try ProgressiveVQCHeader.read(from: prefix), header, "the header alone reads from \(n) bytes")
                let complete = (1...header.stageCount).last { header.streams[$0 - 1].last!.end <= n }
                if let complete {
                    let (intact, problem) = try ProgressiveVQCFile.readIntactStages(from: prefix)
                    XCTAssertEqual(intact.bytes, try source.keepingStages(complete).encoded(), "prefix of \(n) bytes")
                    XCTAssertEqual(problem, expected)
                } else {
                    XCTAssertEqual(containerError { _ = try ProgressiveVQCFile.readIntactStages(from: prefix) }, expected)
                }
            }
        }
    }

    /// Each CRC covers its bytes, so any one changed byte of a valid file is reported, at open time
    /// or when its stream is checked.
    func testEverySingleByteChangeIsDetected() throws {
        for offset in good.indices {
            for delta: UInt8 in [0x01, 0x08, 0x80, 0xFF, 0x5A] {
                var bad = good
                bad[offset] ^= delta
                if let file = try? ProgressiveVQCFile(bytes: bad) {
                    XCTAssertFalse(file.verifyAllStreams().isEmpty, "byte \(offset) ^ \(delta) went unnoticed")
                }
            }
        }
    }

    /// A flipped header bit is the CRC mismatch of the part it hit: the preamble or its stage's section.
    func testAFlippedBitInTheHeaderIsTheCRCMismatchOfItsPart() {
        let preambleEnd = 61, sectionSize = 55
        let unchecked = Set(0..<Layout.flags).union([ProgressiveLayout.modelNameLength])
        for offset in 0..<header.headerByteCount where !unchecked.contains(offset) {
            var bad = good
            bad[offset] ^= 0x20
            let expected: ContainerError
            if offset < preambleEnd + 4 {
                expected = .headerCRCMismatch(stored: UInt32(bad.littleEndian(at: preambleEnd, count: 4)),
                                              computed: crc32(bad[0..<preambleEnd]))
            } else {
                let stage = (offset - preambleEnd - 4) / sectionSize + 1
                let start = preambleEnd + 4 + (stage - 1) * sectionSize, crcAt = start + sectionSize - 4
                expected = .stageTableCRCMismatch(stage: stage, stored: UInt32(bad.littleEndian(at: crcAt, count: 4)),
                                                  computed: crc32(bad[start..<crcAt]))
            }
            XCTAssertEqual(error(bad), expected, "byte \(offset)")
        }
    }
}
