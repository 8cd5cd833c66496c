import Container
import Foundation
import Images
import IntegerPrior
import RangeCoder
import Transforms

/// Coding with a progressive model (``ProgressiveCodecModel``): `.vqc` version 2.
///
/// ```
/// encode:  Image ─▶ analysis ─▶ residual stages: symbols z₁ … zₙ, each [G_k, h, w]
///                ─▶ per tile, in parallel: for k = 1…n, stage k's integer prior (reading z₁…z_{k−1}
///                   of the same tile) ─▶ range encoder ─▶ one stream per (stage, tile)
///                ─▶ .vqc v2: header, stream table stage-major, streams stage-major
/// decode:  .vqc v2 ─▶ per tile, in parallel: stages 1…n in order ─▶ z₁ … zₙ
///                ─▶ Σ codebook lookups ─▶ synthesis ─▶ crop ─▶ Image
/// ```
/// A file's first k stages are a complete file of quality k: ``truncate(_:toStages:limits:)``
/// cuts a file without the model, and the cut file is byte-identical to encoding at k stages.
extension VQCodec {
    /// A progressive `.vqc` file and what the encoder knows about it.
    public struct ProgressiveEncodeResult: Sendable {
        /// The `.vqc` file (version 2).
        public var bytes: [UInt8]
        public var header: ProgressiveVQCHeader
        /// Each coded stage's symbols `[G_k, h, w]`, stage 1 first.
        public var stageSymbols: [[Int32]]
        /// Per stage, Σ −log2 p of its symbols under the integer prior: the ideal stream sizes in bits.
        public var priorBits: [Double]
        /// What `decode` will return, when ``EncodeOptions/reconstruct`` was set.
        public var reconstruction: Image?
        /// Real bits per pixel: 8 × file bytes / pixels.
        public var bitsPerPixel: Double { header.bitsPerPixel }
    }

    /// A progressive file decoded, possibly at fewer stages than it holds.
    public struct ProgressiveDecodeResult: Sendable {
        public var image: Image
        /// The file's header (all the stages it holds).
        public var header: ProgressiveVQCHeader
        /// The decoded stages' symbols `[G_k, h, w]`.
        public var stageSymbols: [[Int32]]
        /// Stages decoded: the quality level of ``image``.
        public var stagesDecoded: Int { stageSymbols.count }
        /// With ``DecodeOptions/salvage``: the first damaged or missing stream (stages from it on
        /// were not decoded), or nil when every stream asked for was intact.
        public var damage: String?
    }

    /// Encodes `image` with the first `stages` stages of `model` (all of them when nil).
    public static func encode(_ image: Image, model: ProgressiveCodecModel, stages: Int? = nil,
                              options: EncodeOptions = EncodeOptions()) throws -> ProgressiveEncodeResult {
        precondition(options.tileSize > 0 && options.threads > 0)
        let config = model.configuration
        let count = stages ?? model.stageCount
        guard (1...model.stageCount).contains(count) else {
            throw CodecError.stagesOutOfRange(requested: count, available: model.stageCount, model: model.name)
        }
        let stageList = config.stages.prefix(count).map { VQCStage(groups: $0.groups, codebookSize: $0.codebookSize) }
        let fields = ProgressiveVQCHeaderFields(
            width: image.width, height: image.height, colorType: image.colorType == .gray ? .gray : .rgb,
            bitDepth: 8, modelName: model.name, modelChecksum: model.checksum, stride: config.stride,
            tileSize: TileSize(height: min(options.tileSize, Pixels.roundUp(image.height, to: config.stride) / config.stride),
                               width: min(options.tileSize, Pixels.roundUp(image.width, to: config.stride) / config.stride)),
            stages: Array(stageList))
        try fields.validate(limits: options.limits)
        let (h, w) = (fields.latentHeight, fields.latentWidth)
        let groups = stageList.map(\.groups)
        let block = blockPositions(options.transformBlockPixels, stride: config.stride)
        let symbols: [[Int32]]
        if let plan = CodeSearch.Plan.forOptions(options) {
            symbols = try CodeSearch.stageSymbols(
                of: image, model: model, stages: count, tiles: (0..<fields.tileCount).map(fields.latentRect(ofTile:)),
                latentHeight: h, latentWidth: w, block: block, plan: plan, slope: options.rateDistortionSlope,
                threads: options.threads)
        } else {
            symbols = model.withTransforms { transforms in
                BlockTransforms.stageSymbols(of: image, stride: config.stride, groups: groups,
                                             halo: transforms.analysisHalo, block: block) {
                    transforms.stageSymbols(images: $0, stages: count)
                }
            }
        }
        let coded = try TileParallelism.map(count: fields.tileCount, threads: options.threads) { index -> [([UInt8], Double)] in
            let rect = fields.latentRect(ofTile: index)
            let tiles = zip(symbols, groups).map { Tiles.extract($0, groups: $1, latentWidth: w, latentHeight: h, rect: rect) }
            return (0..<count).map { k in
                var encoder = RangeEncoder()
                let bits = model.priors.encode(stage: k + 1, symbols: tiles[k], earlier: Array(tiles[..<k]),
                                               height: rect.height, width: rect.width, into: &encoder)
                var stream = encoder.finish()
                // At least one byte per stream (Formats/vqc.md); a lone zero decodes like an empty stream.
                if stream.isEmpty { stream = [0] }
                return (stream, bits)
            }
        }
        let streams = (0..<count).map { k in coded.map { $0[k].0 } }
        let bytes = try VQCWriter.encode(fields, stageStreams: streams, limits: options.limits)
        let header = try ProgressiveVQCHeader.read(from: bytes, limits: options.limits)
        var reconstruction: Image?
        if options.reconstruct {
            reconstruction = synthesise(stageSymbols: symbols, width: image.width, height: image.height,
                                        colorType: header.fields.colorType, model: model, block: block)
        }
        return ProgressiveEncodeResult(bytes: bytes, header: header, stageSymbols: symbols,
                                       priorBits: (0..<count).map { k in coded.reduce(0) { $0 + $1[k].1 } },
                                       reconstruction: reconstruction)
    }

    /// Decodes the first `stages` stages (all the file holds when nil) of a progressive `.vqc`
    /// file with `model`, which must be the model that encoded it.
    ///
    /// With `options.salvage`, a file whose later streams are missing (cut short) or damaged
    /// decodes at the largest number of leading stages that are intact, and says what it dropped in
    /// ``ProgressiveDecodeResult/damage``; damage in stage 1 still fails.
    public static func decode(_ bytes: [UInt8], model: ProgressiveCodecModel, stages: Int? = nil,
                              options: DecodeOptions = DecodeOptions()) throws -> ProgressiveDecodeResult {
        precondition(options.threads > 0 && options.transformBlockPixels > 0)
        let file: ProgressiveVQCFile
        var damage: String?
        if options.salvage {
            let intact = try ProgressiveVQCFile.readIntactStages(from: bytes, limits: options.limits)
            file = intact.file
            damage = intact.problem.map { "\($0)" }
        } else {
            file = try ProgressiveVQCFile(bytes: bytes, limits: options.limits)
        }
        let header = file.header
        try header.requireModel(name: model.name, checksum: model.checksum)
        let config = model.configuration
        guard header.fields.stride == config.stride, header.stageCount <= model.stageCount,
              zip(header.stages, config.stages).allSatisfy({ $0.groups == $1.groups && $0.codebookSize == $1.codebookSize })
        else {
            throw ContainerError.wrongModel(fileModel: header.modelName, fileChecksum: header.modelChecksum,
                                            givenModel: model.name, givenChecksum: model.checksum)
        }
        let count = min(stages ?? header.stageCount, header.stageCount)
        guard count >= 1 else {
            throw CodecError.stagesOutOfRange(requested: stages ?? 0, available: header.stageCount, model: model.name)
        }
        if let stages, stages > header.stageCount, !options.salvage {
            throw CodecError.stagesOutOfRange(requested: stages, available: header.stageCount, model: model.name)
        }
        let (h, w) = (header.fields.latentHeight, header.fields.latentWidth)
        let groups = header.stages.prefix(count).map(\.groups)
        let tiles = try TileParallelism.map(count: header.tileCount, threads: options.threads) { index -> [[Int32]] in
            let rect = header.latentRect(ofTile: index)
            var decoded: [[Int32]] = []
            for k in 0..<count {
                // Each stream's CRC-32 is checked here, in the tile's own task.
                let stream = try file.stream(stage: k + 1, tile: index)
                do {
                    var decoder = try RangeDecoder(bytes: stream)
                    decoded.append(try model.priors.decode(stage: k + 1, height: rect.height, width: rect.width,
                                                           earlier: decoded, from: &decoder))
                } catch {
                    throw CodecError.streamUndecodable(stage: k + 1, tile: index, reason: "\(error)")
                }
            }
            return decoded
        }
        var symbols = groups.map { [Int32](repeating: 0, count: $0 * h * w) }
        for (index, tile) in tiles.enumerated() {
            let rect = header.latentRect(ofTile: index)
            for k in 0..<count {
                Tiles.insert(tile[k], into: &symbols[k], groups: groups[k], latentWidth: w, latentHeight: h, rect: rect)
            }
        }
        let image = synthesise(stageSymbols: symbols, width: header.width, height: header.height,
                               colorType: header.fields.colorType, model: model,
                               block: blockPositions(options.transformBlockPixels, stride: config.stride))
        return ProgressiveDecodeResult(image: image, header: header, stageSymbols: symbols, damage: damage)
    }

    /// `bytes`, a progressive `.vqc` file, cut to its first `stages` stages: a header rewrite and
    /// the tail dropped, no model needed. The result is byte-identical to encoding the same image
    /// with the same model and options at `stages` stages.
    public static func truncate(_ bytes: [UInt8], toStages stages: Int,
                                limits: ContainerLimits = ContainerLimits()) throws -> [UInt8] {
        let file = try ProgressiveVQCFile(bytes: bytes, limits: limits)
        guard (1...file.header.stageCount).contains(stages) else {
            throw CodecError.stagesOutOfRange(requested: stages, available: file.header.stageCount, model: file.header.modelName)
        }
        return try file.truncated(toStages: stages).bytes
    }

    /// The most leading stages of `header`'s file whose cut file is at most `bitsPerPixel`
    /// (real file size), or nil when even the first stage is larger.
    public static func stages(fitting bitsPerPixel: Double, header: ProgressiveVQCHeader) -> Int? {
        let pixels = Double(header.width) * Double(header.height)
        return (1...header.stageCount).last { 8 * Double(header.fileByteCount(stages: $0)) / pixels <= bitsPerPixel }
    }

    static func synthesise(stageSymbols: [[Int32]], width: Int, height: Int, colorType: VQCColorType,
                           model: ProgressiveCodecModel, block: Int) -> Image {
        let config = model.configuration
        let h = Pixels.roundUp(height, to: config.stride) / config.stride
        let w = Pixels.roundUp(width, to: config.stride) / config.stride
        return model.withTransforms { transforms in
            BlockTransforms.image(stageSymbols: stageSymbols,
                                  groups: config.stages.prefix(stageSymbols.count).map(\.groups),
                                  latentHeight: h, latentWidth: w, width: width, height: height,
                                  colorType: colorType == .gray ? .gray : .rgb, stride: config.stride,
                                  halo: transforms.synthesisHalo, block: block) { crops, outer in
                transforms.reconstruct(stageSymbols: crops, batch: 1, height: outer.height, width: outer.width)
            }
        }
    }
}
