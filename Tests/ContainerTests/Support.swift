import SeededRandom
import Foundation
import XCTest
@testable import Container

/// Random bytes for the container tests, from the package's one seeded generator.
extension SplitMix64 {
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// A file the tests build: header fields plus one stream per tile.
struct Sample {
    var fields: VQCHeaderFields
    var streams: [[UInt8]]

    func encoded() throws -> [UInt8] { try VQCWriter.encode(fields, tileStreams: streams) }

    /// Streams of the given lengths, filled with seeded pseudo-random bytes.
    static func streams(lengths: [Int], seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        return lengths.map { rng.bytes($0) }
    }

    /// `Fixtures/golden/small.vqc`: 70 × 45 RGB at stride 8 → latent 6 × 9, 2 groups of 512 codes,
    /// tiles of 4 × 4 → 2 × 3 = 6 tiles. Matches the example in `Formats/vqc.md` §7.
    static let small = Sample(
        fields: VQCHeaderFields(
            width: 70, height: 45, colorType: .rgb, bitDepth: 8, modelName: "vqc-test-s8",
            modelChecksum: 0x0123_4567_89AB_CDEF,
            latent: LatentGeometry(height: 6, width: 9, groups: 2, codebookSize: 512, stride: 8),
            tileSize: TileSize(height: 4, width: 4)),
        streams: streams(lengths: [37, 1, 120, 64, 255, 9], seed: 0x5651_4301))

    /// `Fixtures/golden/gray16.vqc`: 33 × 17 gray, 16-bit, stride 4 → latent 5 × 9, one group of
    /// 4096 codes, tiles of 5 × 4 → 1 × 3 tiles (the last one column wide); a name with spaces.
    static let gray16 = Sample(
        fields: VQCHeaderFields(
            width: 33, height: 17, colorType: .gray, bitDepth: 16, modelName: "gray model 1.0",
            modelChecksum: 0xFEDC_BA98_7654_3210,
            latent: LatentGeometry(height: 5, width: 9, groups: 1, codebookSize: 4096, stride: 4),
            tileSize: TileSize(height: 5, width: 4)),
        streams: streams(lengths: [3, 500, 1], seed: 0x5651_4302))
}

enum Fixtures {
    /// `<package>/Fixtures`, found from this file's path (`<package>/Tests/ContainerTests/Support.swift`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static var regenerating: Bool { ProcessInfo.processInfo.environment["VQCODEC_REGENERATE_GOLDEN"] == "1" }

    /// Compares `bytes` with the committed fixture at `relativePath`. A missing fixture fails;
    /// only `VQCODEC_REGENERATE_GOLDEN=1` writes it (see `Fixtures/README.md`).
    static func assertMatches(_ bytes: [UInt8], _ relativePath: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = root.appendingPathComponent(relativePath)
        if regenerating {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
            print("regenerated \(url.path)")
        }
        guard let committed = FileManager.default.contents(atPath: url.path) else {
            return XCTFail("missing fixture \(url.path); create it deliberately with VQCODEC_REGENERATE_GOLDEN=1",
                           file: file, line: line)
        }
        XCTAssertEqual([UInt8](committed), bytes,
                       "\(relativePath) differs from what the writer produces; if the format changed on purpose, "
                       + "update Formats/vqc.md and regenerate with VQCODEC_REGENERATE_GOLDEN=1", file: file, line: line)
    }

    static func read(_ relativePath: String) throws -> [UInt8] {
        let path = root.appendingPathComponent(relativePath).path
        guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileNoSuchFile) }
        return [UInt8](data)
    }
}

/// Edits of a valid file, for malformed-file tests.
enum Damage {
    static func nameLength(_ file: [UInt8]) -> Int { Int(file[Layout.modelNameLength]) }
    static func preambleEnd(_ file: [UInt8]) -> Int { Layout.modelName + nameLength(file) }

    /// Writes `value` little-endian into `count` bytes at `offset`.
    static func set(_ file: inout [UInt8], at offset: Int, _ value: UInt64, count: Int) {
        for i in 0..<count { file[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// Recomputes the preamble CRC and, when `headerEnd` is given, the header CRC, so that an edit
    /// reaches the field checks instead of stopping at a CRC mismatch.
    static func reseal(_ file: inout [UInt8], headerEnd: Int?) {
        let end = preambleEnd(file)
        set(&file, at: end, UInt64(crc32(file[0..<end])), count: 4)
        if let headerEnd { set(&file, at: headerEnd - 4, UInt64(crc32(file[0..<headerEnd - 4])), count: 4) }
    }

    /// A copy of the valid `file` with `count` bytes at `offset` set to `value`, CRCs recomputed.
    static func field(_ file: [UInt8], at offset: Int, _ value: UInt64, count: Int) -> [UInt8] {
        fields(file, [(offset, value, count)])
    }

    /// A copy of the valid `file` with each edit `(offset, value, byte count)` applied, CRCs recomputed.
    static func fields(_ file: [UInt8], _ edits: [(Int, UInt64, Int)]) -> [UInt8] {
        let headerEnd = try! VQCHeader.read(from: file).headerByteCount
        var copy = file
        for (offset, value, count) in edits { set(&copy, at: offset, value, count: count) }
        reseal(&copy, headerEnd: headerEnd)
        return copy
    }

    /// Offset of tile `index`'s entry in the tile table.
    static func tileEntry(_ file: [UInt8], _ index: Int) -> Int { preambleEnd(file) + 4 + 16 * index }
}

/// The error `body` throws, as a `ContainerError` (fails the test when it throws nothing or something else).
func containerError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ContainerError? {
    do {
        try body()
        XCTFail("expected a ContainerError, nothing was thrown", file: file, line: line)
    } catch let error as ContainerError {
        return error
    } catch {
        XCTFail("expected a ContainerError, got \(error)", file: file, line: line)
    }
    return nil
}
