import SeededRandom
import XCTest
@testable import Container

/// A progressive (version-2) file the tests build: header fields plus, per stage, one stream per tile.
struct ProgressiveSample {
    var fields: ProgressiveVQCHeaderFields
    var streams: [[[UInt8]]]

    func encoded(limits: ContainerLimits = ContainerLimits()) throws -> [UInt8] {
        try VQCWriter.encode(fields, stageStreams: streams, limits: limits)
    }

    /// The same image with only its first `count` stages, as an encoder would write it directly.
    func keepingStages(_ count: Int) -> ProgressiveSample {
        ProgressiveSample(fields: fields.keepingStages(count), streams: Array(streams.prefix(count)))
    }

    /// `Fixtures/golden/progressive.vqc`: the image of `small.vqc` (70 × 45 RGB at stride 8 → latent
    /// 6 × 9, tiles of 4 × 4 → 2 × 3 = 6 tiles) with four residual stages of 1, 2, 4 and 8 groups of
    /// 512 codes, as the progressive model has. Matches the example in `Formats/vqc.md` §8.7.
    static let fourStages = ProgressiveSample(
        fields: ProgressiveVQCHeaderFields(
            width: 70, height: 45, colorType: .rgb, bitDepth: 8, modelName: "vqc-test-rvq",
            modelChecksum: 0x0123_4567_89AB_CDEF, stride: 8, tileSize: TileSize(height: 4, width: 4),
            stages: [1, 2, 4, 8].map { VQCStage(groups: $0, codebookSize: 512) }),
        streams: [
            Sample.streams(lengths: [5, 1, 3, 4, 2, 1], seed: 0x5651_4321),
            Sample.streams(lengths: [9, 7, 2, 8, 11, 3], seed: 0x5651_4322),
            Sample.streams(lengths: [20, 13, 6, 17, 25, 4], seed: 0x5651_4323),
            Sample.streams(lengths: [40, 31, 10, 35, 52, 9], seed: 0x5651_4324),
        ])

    /// A random valid sample with `stageCount` stages (or a random count in 1...6) and at most 60 tiles.
    static func random(_ rng: inout SplitMix64, stageCount: Int? = nil) -> ProgressiveSample {
        let width = Int.random(in: 1...200, using: &rng)
        let height = Int.random(in: 1...200, using: &rng)
        let stride = [1, 2, 4, 8, 16, 32].randomElement(using: &rng)!
        let (h, w) = ((height + stride - 1) / stride, (width + stride - 1) / stride)
        var tileSize: TileSize
        repeat {
            tileSize = TileSize(height: Int.random(in: 1...h, using: &rng), width: Int.random(in: 1...w, using: &rng))
        } while ((h + tileSize.height - 1) / tileSize.height) * ((w + tileSize.width - 1) / tileSize.width) > 60
        let stages = (0..<(stageCount ?? Int.random(in: 1...6, using: &rng))).map { _ in
            VQCStage(groups: Int.random(in: 1...10, using: &rng), codebookSize: Int.random(in: 2...4096, using: &rng))
        }
        let name = String((0..<Int.random(in: 1...64, using: &rng)).map { _ in
            Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &rng)))
        })
        let fields = ProgressiveVQCHeaderFields(
            width: width, height: height, colorType: VQCColorType.allCases.randomElement(using: &rng)!,
            bitDepth: [1, 2, 4, 8, 16].randomElement(using: &rng)!, modelName: name, modelChecksum: rng.next(),
            stride: stride, tileSize: tileSize, stages: stages)
        let streams = stages.map { _ in (0..<fields.tileCount).map { _ in rng.bytes(Int.random(in: 1...30, using: &rng)) } }
        return ProgressiveSample(fields: fields, streams: streams)
    }
}

/// Edits of a valid version-2 file, for malformed-file tests.
enum ProgressiveDamage {
    static func preambleEnd(_ file: [UInt8]) -> Int { ProgressiveLayout.modelName + Int(file[ProgressiveLayout.modelNameLength]) }

    /// Offset of stage `stage`'s section in a file with `tileCount` tiles.
    static func section(_ file: [UInt8], stage: Int, tileCount: Int) -> Int {
        preambleEnd(file) + 4 + (stage - 1) * ProgressiveLayout.stageSectionByteCount(tileCount: tileCount)
    }

    /// Offset of the stream-table entry of (`stage`, `tile`).
    static func entry(_ file: [UInt8], stage: Int, tile: Int, tileCount: Int) -> Int {
        section(file, stage: stage, tileCount: tileCount) + ProgressiveLayout.stageTable + ProgressiveLayout.streamEntryBytes * tile
    }

    /// Recomputes the preamble CRC and the CRC of every stage section the bytes hold (for `tileCount`
    /// tiles and the stage count in the file), so that an edit reaches the field checks.
    static func reseal(_ file: inout [UInt8], tileCount: Int) {
        let end = preambleEnd(file)
        Damage.set(&file, at: end, UInt64(crc32(file[0..<end])), count: 4)
        let size = ProgressiveLayout.stageSectionByteCount(tileCount: tileCount)
        for stage in 1...max(1, Int(file[ProgressiveLayout.stageCount])) {
            let start = section(file, stage: stage, tileCount: tileCount)
            guard start + size <= file.count else { break }
            Damage.set(&file, at: start + size - 4, UInt64(crc32(file[start..<(start + size - 4)])), count: 4)
        }
    }

    /// A copy of the valid `file` (with `tileCount` tiles) with each edit `(offset, value, byte count)`
    /// applied, CRCs recomputed.
    static func fields(_ file: [UInt8], tileCount: Int, _ edits: [(Int, UInt64, Int)]) -> [UInt8] {
        var copy = file
        for (offset, value, count) in edits { Damage.set(&copy, at: offset, value, count: count) }
        reseal(&copy, tileCount: tileCount)
        return copy
    }
}
