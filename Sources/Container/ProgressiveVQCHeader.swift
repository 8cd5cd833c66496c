/// The header of a progressive (version-2) `.vqc` file (`Formats/vqc.md` §8), parsed and validated:
/// the image, the model, the latent grid and its tiles, and for each stage present its codebook and
/// one stream per tile.
///
/// Get one from ``read(from:limits:)`` (header only) or ``ProgressiveVQCFile/header`` (whole file).
/// Every value satisfies the format's rules and the limits it was read with. Stages are numbered
/// from 1 (stage k completes quality level k), tiles from 0.
public struct ProgressiveVQCHeader: Equatable, Sendable {
    /// The format version of progressive files.
    public static let currentVersion: UInt16 = 2

    /// Format version (always ``currentVersion`` once read).
    public let version: UInt16
    /// Everything but the version and the stream table: what ``VQCWriter/encode(_:stageStreams:limits:)``
    /// needs to write this header again.
    public let fields: ProgressiveVQCHeaderFields
    /// `streams[k - 1][i]`: where stage k's stream of tile i lies in the file (offsets from the start
    /// of the file; the file stores only the lengths, the streams being contiguous), stage-major.
    public let streams: [[TileEntry]]

    init(fields: ProgressiveVQCHeaderFields, streams: [[TileEntry]]) {
        version = Self.currentVersion
        self.fields = fields
        self.streams = streams
    }

    /// Image width in pixels.
    public var width: Int { fields.width }
    /// Image height in pixels.
    public var height: Int { fields.height }
    /// The model's name.
    public var modelName: String { fields.modelName }
    /// 64-bit checksum of the model's coding-relevant weights.
    public var modelChecksum: UInt64 { fields.modelChecksum }
    /// The stages present, stage k at index k − 1.
    public var stages: [VQCStage] { fields.stages }
    /// Number of stages present, n ≥ 1.
    public var stageCount: Int { fields.stages.count }
    /// Number of tiles, ceil(h / th) × ceil(w / tw); each stage has one stream per tile.
    public var tileCount: Int { streams[0].count }
    /// Rows of tiles.
    public var tileRows: Int { fields.tileRows }
    /// Columns of tiles.
    public var tileColumns: Int { fields.tileColumns }
    /// The latent positions covered by tile `index`, in every stage.
    public func latentRect(ofTile index: Int) -> LatentRect { fields.latentRect(ofTile: index) }
    /// Stage `stage`'s symbolic image as a single-stage geometry (see ``ProgressiveVQCHeaderFields/latent(ofStage:)``).
    public func latent(ofStage stage: Int) -> LatentGeometry { fields.latent(ofStage: stage) }

    /// Where stage `stage`'s stream of tile `tile` lies in the file.
    public func stream(stage: Int, tile: Int) -> TileEntry {
        precondition((1...stageCount).contains(stage), "stage \(stage) out of range 1...\(stageCount)")
        precondition((0..<tileCount).contains(tile), "tile index \(tile) out of range 0..<\(tileCount)")
        return streams[stage - 1][tile]
    }

    /// Header size in bytes, stage sections and CRCs included: where stage 1 tile 0's stream starts.
    public var headerByteCount: Int { fields.headerByteCount }
    /// Total bytes of the streams of every stage.
    public var payloadByteCount: Int { streams.last!.last!.end - headerByteCount }
    /// Size of the whole file: header plus streams.
    public var fileByteCount: Int { streams.last!.last!.end }
    /// Rate of the whole file, header included: 8 × file bytes / (width × height).
    public var bitsPerPixel: Double { 8 * Double(fileByteCount) / (Double(width) * Double(height)) }

    /// Size of this file cut to its first `stages` stages (``ProgressiveVQCFile/truncated(toStages:)``):
    /// the rate of quality level `stages`, header included, without writing the cut file.
    public func fileByteCount(stages count: Int) -> Int {
        precondition((1...stageCount).contains(count), "stage count \(count) out of range 1...\(stageCount)")
        let cutHeader = fields.keepingStages(count).headerByteCount
        return cutHeader + (streams[count - 1].last!.end - headerByteCount)
    }

    /// Throws ``ContainerError/wrongModel(fileModel:fileChecksum:givenModel:givenChecksum:)`` unless the
    /// given model's name and checksum are this file's.
    public func requireModel(name: String, checksum: UInt64) throws(ContainerError) {
        guard name == modelName && checksum == modelChecksum else {
            throw .wrongModel(fileModel: modelName, fileChecksum: modelChecksum, givenModel: name, givenChecksum: checksum)
        }
    }

    /// Checks every stream against the file's bytes: which are cut off by the end of `fileBytes`
    /// (``ContainerError/truncatedStream(stage:tile:expectedEnd:fileSize:)``) or fail their CRC
    /// (``ContainerError/streamCRCMismatch(stage:tile:stored:computed:)``). Empty when every stream is
    /// intact. Works on a truncated file too, so a tool can show what survived.
    public func verifyStreams(in fileBytes: [UInt8]) -> [VQCStreamIndex: ContainerError] {
        var problems: [VQCStreamIndex: ContainerError] = [:]
        for (stageIndex, stage) in streams.enumerated() {
            for (tile, entry) in stage.enumerated() {
                let index = VQCStreamIndex(stage: stageIndex + 1, tile: tile)
                if let problem = Self.check(entry, index, in: fileBytes) { problems[index] = problem }
            }
        }
        return problems
    }

    static func check(_ entry: TileEntry, _ index: VQCStreamIndex, in fileBytes: [UInt8]) -> ContainerError? {
        guard entry.end <= fileBytes.count else {
            return .truncatedStream(stage: index.stage, tile: index.tile, expectedEnd: entry.end, fileSize: fileBytes.count)
        }
        let computed = crc32(fileBytes[entry.offset..<entry.end])
        guard computed == entry.crc32 else {
            return .streamCRCMismatch(stage: index.stage, tile: index.tile, stored: entry.crc32, computed: computed)
        }
        return nil
    }
}
