// Byte positions of the version-1 header (Formats/vqc.md §2) and little-endian access to them.

/// `89 56 51 43 0D 0A 1A 0A`: "\x89VQC\r\n\x1a\n", built like PNG's signature to catch text-mode damage.
let vqcSignature: [UInt8] = [0x89, 0x56, 0x51, 0x43, 0x0D, 0x0A, 0x1A, 0x0A]
/// The first four bytes of a PNG file, "\x89PNG".
let pngSignaturePrefix: [UInt8] = [0x89, 0x50, 0x4E, 0x47]

enum Layout {
    static let version = 8
    static let flags = 10
    static let width = 12
    static let height = 16
    static let colorType = 20
    static let bitDepth = 21
    static let stride = 22
    static let groups = 23
    static let codebookSize = 24
    static let latentHeight = 26
    static let latentWidth = 30
    static let tileHeight = 34
    static let tileWidth = 38
    static let modelChecksum = 42
    static let modelNameLength = 50
    static let modelName = 51
    /// Bytes of the preamble besides the name: fixed fields (51) and the preamble CRC (4).
    static let preambleFixedBytes = 55
    /// Bytes of the header besides the name and the tile table: the preamble's 55 and the header CRC.
    static let headerFixedBytes = 59
    static let tileEntryBytes = 16
    static let maxModelNameBytes = 64
    static let allowedStrides: [UInt64] = [1, 2, 4, 8, 16, 32]
    static let allowedBitDepths: [UInt64] = [1, 2, 4, 8, 16]

    /// Header size for a model name of `nameLength` bytes and `tileCount` tiles.
    static func headerByteCount(nameLength: Int, tileCount: Int) -> Int {
        headerFixedBytes + nameLength + tileEntryBytes * tileCount
    }
}

/// Byte positions of the version-2 (progressive) header (Formats/vqc.md §8). Bytes 0–22 are
/// version 1's; the groups and codebook size move into the stage sections.
enum ProgressiveLayout {
    static let stageCount = 23
    static let latentHeight = 24
    static let latentWidth = 28
    static let tileHeight = 32
    static let tileWidth = 36
    static let modelChecksum = 40
    static let modelNameLength = 48
    static let modelName = 49
    /// Bytes of the preamble besides the name: fixed fields (49) and the preamble CRC (4).
    static let preambleFixedBytes = 53
    /// Bytes of a stage section besides its stream table: groups (1), codebook size (2), stage CRC (4).
    static let stageFixedBytes = 7
    /// Within a stage section: where the groups, the codebook size and the stream table are.
    static let stageGroups = 0
    static let stageCodebookSize = 1
    static let stageTable = 3
    /// One stream-table entry: the stream's length (u32) and CRC-32 (u32). No offset: the streams are
    /// contiguous, so each starts where the previous one (in file order) ends.
    static let streamEntryBytes = 8
    /// Within a stream-table entry: where the length and the CRC are.
    static let entryLength = 0
    static let entryCRC = 4

    /// Size of one stage section for `tileCount` tiles: 7 + 8 T.
    static func stageSectionByteCount(tileCount: Int) -> Int { stageFixedBytes + streamEntryBytes * tileCount }

    /// Header size for a model name of `nameLength` bytes, `stageCount` stages and `tileCount` tiles:
    /// 53 + m + n (7 + 8 T). Where the payload, and stage 1 tile 0's stream, starts.
    static func headerByteCount(nameLength: Int, stageCount: Int, tileCount: Int) -> Int {
        preambleFixedBytes + nameLength + stageCount * stageSectionByteCount(tileCount: tileCount)
    }
}

extension Array where Element == UInt8 {
    /// The little-endian unsigned integer of `count` bytes at `offset` (the caller checked the bounds).
    func littleEndian(at offset: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in (0..<count).reversed() { value = value << 8 | UInt64(self[offset + i]) }
        return value
    }

    mutating func appendLittleEndian(_ value: UInt64, count: Int) {
        for i in 0..<count { append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }
}
