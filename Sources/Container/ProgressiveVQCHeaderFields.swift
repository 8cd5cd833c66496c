/// One residual stage of a progressive (version-2) file: `groups` symbols per latent position,
/// each in `0 ..< codebookSize` (`Formats/vqc.md` §8).
public struct VQCStage: Equatable, Sendable {
    /// Symbols per position in this stage, G_k (≥ 1).
    public var groups: Int
    /// Codes per group in this stage, K_k (≥ 2).
    public var codebookSize: Int

    public init(groups: Int, codebookSize: Int) {
        self.groups = groups
        self.codebookSize = codebookSize
    }
}

/// Identifies one stream of a progressive file: stage `stage` (numbered from 1) of tile `tile`
/// (numbered from 0, raster order, as in version 1).
public struct VQCStreamIndex: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The stage, 1 … stage count.
    public var stage: Int
    /// The tile, 0 ..< tile count.
    public var tile: Int

    public init(stage: Int, tile: Int) {
        self.stage = stage
        self.tile = tile
    }

    /// File order: stage-major, then tile.
    public static func < (a: Self, b: Self) -> Bool { (a.stage, a.tile) < (b.stage, b.tile) }

    public var description: String { "stage \(stage), tile \(tile)" }
}

/// What an encoder chooses for a progressive (version-2) header: everything but the version and
/// the stream table. ``VQCWriter/encode(_:stageStreams:limits:)`` turns it plus the streams into a
/// file; ``ProgressiveVQCHeader/fields`` gives it back.
///
/// Stage k (numbered from 1) is `stages[k - 1]`; a file holding `stages.count` stages decodes at
/// quality level `stages.count`. The latent grid, stride and tiles are shared by every stage.
public struct ProgressiveVQCHeaderFields: Equatable, Sendable {
    /// Image width in pixels.
    public var width: Int
    /// Image height in pixels.
    public var height: Int
    public var colorType: VQCColorType
    /// Sample depth of the image the encoder was given: 1, 2, 4, 8 or 16. Informational.
    public var bitDepth: Int
    /// The model's name: 1 to 64 printable ASCII characters.
    public var modelName: String
    /// 64-bit checksum of the model's coding-relevant weights (opaque to the container).
    public var modelChecksum: UInt64
    /// Pixels per latent position along each axis, S: 1, 2, 4, 8, 16 or 32.
    public var stride: Int
    /// Latent rows, h = ceil(height / stride) in a valid header.
    public var latentHeight: Int
    /// Latent columns, w = ceil(width / stride) in a valid header.
    public var latentWidth: Int
    public var tileSize: TileSize
    /// The stages present, in coding order: at least one.
    public var stages: [VQCStage]

    public init(width: Int, height: Int, colorType: VQCColorType, bitDepth: Int, modelName: String,
                modelChecksum: UInt64, stride: Int, latentHeight: Int, latentWidth: Int, tileSize: TileSize,
                stages: [VQCStage]) {
        self.width = width
        self.height = height
        self.colorType = colorType
        self.bitDepth = bitDepth
        self.modelName = modelName
        self.modelChecksum = modelChecksum
        self.stride = stride
        self.latentHeight = latentHeight
        self.latentWidth = latentWidth
        self.tileSize = tileSize
        self.stages = stages
    }

    /// Fields whose latent size follows from the image size: `ceil(height / stride) × ceil(width / stride)`.
    public init(width: Int, height: Int, colorType: VQCColorType, bitDepth: Int, modelName: String,
                modelChecksum: UInt64, stride: Int, tileSize: TileSize, stages: [VQCStage]) {
        precondition(stride > 0 && width >= 0 && height >= 0, "stride must be positive, sizes non-negative")
        self.init(width: width, height: height, colorType: colorType, bitDepth: bitDepth, modelName: modelName,
                  modelChecksum: modelChecksum, stride: stride, latentHeight: (height + stride - 1) / stride,
                  latentWidth: (width + stride - 1) / stride, tileSize: tileSize, stages: stages)
    }

    /// Number of stages, n.
    public var stageCount: Int { stages.count }

    /// The symbolic image of stage `stage` (1 … stage count) as a single-stage geometry: the shared
    /// latent grid and stride with that stage's groups and codebook size.
    public func latent(ofStage stage: Int) -> LatentGeometry {
        precondition((1...stages.count).contains(stage), "stage \(stage) out of range 1...\(stages.count)")
        let codebook = stages[stage - 1]
        return LatentGeometry(height: latentHeight, width: latentWidth, groups: codebook.groups,
                              codebookSize: codebook.codebookSize, stride: stride)
    }

    /// The same image and model with only stages 1 … `count`: what a file cut to `count` stages holds.
    /// - Precondition: `1 ≤ count ≤ stageCount`.
    public func keepingStages(_ count: Int) -> ProgressiveVQCHeaderFields {
        precondition((1...stages.count).contains(count), "stage count \(count) out of range 1...\(stages.count)")
        var copy = self
        copy.stages = Array(stages.prefix(count))
        return copy
    }

    /// Checks the fields with the reader's rules and `limits` (`Formats/vqc.md` §8.4 steps 5 and 7), so
    /// an encoder can refuse an image before spending time on it. Returns nothing; throws the first problem.
    public func validate(limits: ContainerLimits = ContainerLimits()) throws(ContainerError) {
        _ = try raw.validate(limits)
        var totalGroups: UInt64 = 0
        for (index, stage) in stages.enumerated() {
            precondition(stage.groups >= 0 && stage.codebookSize >= 0, "stage fields must not be negative: \(stage)")
            try ProgressiveRules.checkStage(index + 1, groups: UInt64(stage.groups),
                                            codebookSize: UInt64(stage.codebookSize),
                                            totalGroups: &totalGroups, limits: limits)
        }
    }

    /// Rows of tiles, ceil(latent height / tile height). Requires a positive tile height.
    public var tileRows: Int {
        precondition(tileSize.height > 0, "tile height must be positive")
        return (latentHeight + tileSize.height - 1) / tileSize.height
    }

    /// Columns of tiles, ceil(latent width / tile width). Requires a positive tile width.
    public var tileColumns: Int {
        precondition(tileSize.width > 0, "tile width must be positive")
        return (latentWidth + tileSize.width - 1) / tileSize.width
    }

    /// Number of tiles, `tileRows × tileColumns` (each stage has one stream per tile).
    public var tileCount: Int { tileRows * tileColumns }

    /// The latent positions covered by tile `index` (raster order); the same in every stage.
    public func latentRect(ofTile index: Int) -> LatentRect {
        precondition((0..<tileCount).contains(index), "tile index \(index) out of range 0..<\(tileCount)")
        let top = (index / tileColumns) * tileSize.height
        let left = (index % tileColumns) * tileSize.width
        return LatentRect(top: top, left: left, height: min(tileSize.height, latentHeight - top),
                          width: min(tileSize.width, latentWidth - left))
    }

    /// Size in bytes of the header these fields give: 53 + name bytes + stages × (7 + 8 × tiles).
    public var headerByteCount: Int {
        ProgressiveLayout.headerByteCount(nameLength: modelName.utf8.count, stageCount: stages.count, tileCount: tileCount)
    }

    var raw: RawProgressiveFields {
        let numbers = [width, height, bitDepth, stride, latentHeight, latentWidth, tileSize.height, tileSize.width]
        precondition(numbers.allSatisfy { $0 >= 0 }, "header fields must not be negative: \(self)")
        return RawProgressiveFields(
            flags: 0, width: UInt64(width), height: UInt64(height), colorType: UInt64(colorType.rawValue),
            bitDepth: UInt64(bitDepth), stride: UInt64(stride), stageCount: UInt64(stages.count),
            latentHeight: UInt64(latentHeight), latentWidth: UInt64(latentWidth),
            tileHeight: UInt64(tileSize.height), tileWidth: UInt64(tileSize.width),
            modelChecksum: modelChecksum, modelName: Array(modelName.utf8))
    }
}

/// The preamble fields of a version-2 header as plain numbers, as read from a file or converted
/// from ``ProgressiveVQCHeaderFields``.
struct RawProgressiveFields {
    var flags: UInt64
    var width: UInt64
    var height: UInt64
    var colorType: UInt64
    var bitDepth: UInt64
    var stride: UInt64
    var stageCount: UInt64
    var latentHeight: UInt64
    var latentWidth: UInt64
    var tileHeight: UInt64
    var tileWidth: UInt64
    var modelChecksum: UInt64
    var modelName: [UInt8]

    /// Checks the preamble's fields in the order of `Formats/vqc.md` §8.4 step 5 and returns the tile count.
    func validate(_ limits: ContainerLimits) throws(ContainerError) -> Int {
        try FieldRules.checkImage(flags: flags, colorType: colorType, bitDepth: bitDepth, modelName: modelName,
                                  width: width, height: height, stride: stride, limits: limits)
        guard stageCount >= 1 else { throw .invalidField(.stageCount, found: stageCount, allowed: "at least 1") }
        let maxStages = FieldRules.limit(limits.maxStages, ceiling: UInt64(UInt8.max))
        guard stageCount <= maxStages else { throw .limitExceeded(.stageCount, value: stageCount, limit: maxStages) }
        let tiles = try FieldRules.checkTiling(width: width, height: height, stride: stride,
                                               latentHeight: latentHeight, latentWidth: latentWidth,
                                               tileHeight: tileHeight, tileWidth: tileWidth, limits: limits)
        let streams = stageCount * UInt64(tiles)  // ≤ 255 · 2^32: no overflow
        let maxStreams = FieldRules.limit(limits.maxStreams, ceiling: FieldRules.u32)
        guard streams <= maxStreams else { throw .limitExceeded(.streamCount, value: streams, limit: maxStreams) }
        return tiles
    }
}

enum ProgressiveRules {
    /// The rules of one stage section's fields (`Formats/vqc.md` §8.4 step 7), in order: G_k ≥ 1,
    /// G_k ≤ limit, K_k ≥ 2, K_k ≤ limit, Σ G ≤ limit. `totalGroups` holds Σ G of the stages before.
    static func checkStage(_ stage: Int, groups: UInt64, codebookSize: UInt64, totalGroups: inout UInt64,
                           limits: ContainerLimits) throws(ContainerError) {
        guard groups >= 1 else { throw .invalidStageField(stage: stage, .groups, found: groups, allowed: "at least 1") }
        let maxGroups = FieldRules.limit(limits.maxGroups, ceiling: UInt64(UInt8.max))
        guard groups <= maxGroups else { throw .stageLimitExceeded(stage: stage, .groups, value: groups, limit: maxGroups) }
        guard codebookSize >= 2 else {
            throw .invalidStageField(stage: stage, .codebookSize, found: codebookSize, allowed: "at least 2")
        }
        let maxCodebookSize = FieldRules.limit(limits.maxCodebookSize, ceiling: UInt64(UInt16.max))
        guard codebookSize <= maxCodebookSize else {
            throw .stageLimitExceeded(stage: stage, .codebookSize, value: codebookSize, limit: maxCodebookSize)
        }
        totalGroups += groups  // ≤ 255 · 255
        let maxTotal = FieldRules.limit(limits.maxTotalGroups, ceiling: UInt64(UInt8.max) * UInt64(UInt8.max))
        guard totalGroups <= maxTotal else { throw .limitExceeded(.totalGroups, value: totalGroups, limit: maxTotal) }
    }
}
