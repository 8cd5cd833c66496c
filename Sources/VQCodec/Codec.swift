import Container
import Engine
import FileIO
import Foundation
import Images
import Prior
import RangeCoder

/// vqcodec's public API: encode an image with a model, decode a `.vqc` file, read a header.
///
/// ```
/// encode:  Image ─▶ pad to the stride ─▶ analysis ─▶ nearest codes: symbols [G, h, w]
///                ─▶ per tile, in parallel: integer prior tables ─▶ range encoder
///                ─▶ .vqc container (header, tile table, CRCs)
/// decode:  .vqc ─▶ validate, check model identity ─▶ per tile, in parallel:
///                range decoder + prior one position at a time ─▶ symbols
///                ─▶ codebook lookup ─▶ synthesis ─▶ crop ─▶ Image
/// ```
/// Tiles are independent streams: the prior's context never crosses a tile's edge, so tiles
/// code on all cores and the bytes never depend on the thread count.
public enum VQCodec {
    /// Latent positions per tile side when the caller does not choose.
    /// This release of vqcodec (semantic versioning; `CHANGELOG.md`). Every `.vqc` file a
    /// released version wrote decodes with every later one.
    public static let version = "0.1.0"

    public static let defaultTileSize = 32

    /// How ``encode(_:model:options:)`` cuts and bounds its work; the defaults suit any image.
    public struct EncodeOptions: Sendable {
        /// Tile side in latent positions (tiles are square; edge tiles are cut to the image).
        public var tileSize: Int = VQCodec.defaultTileSize
        /// Cores used for the tiles.
        public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        /// Also synthesise the image a decoder will produce (for PSNR), at the cost of a decode's synthesis.
        public var reconstruct: Bool = false
        /// Side, in pixels, of the blocks the analysis (and the reconstruction) runs on; rounded
        /// down to a multiple of the stride, at least one latent position. Bounds the transforms'
        /// working memory; the symbols do not depend on it (see ``defaultTransformBlockPixels``).
        public var transformBlockPixels: Int = VQCodec.defaultTransformBlockPixels
        /// Limits the header must satisfy: the encoder refuses to write a file its readers would refuse.
        public var limits: ContainerLimits = ContainerLimits()
        /// How hard to choose the codes, always for the least pixel error plus
        /// ``rateDistortionSlope`` times bits (see `docs/design.md`): 0 weighs each position's few
        /// nearest codes by a model of the synthesis at the analysis output and their exact bits
        /// (one synthesis pass more than the plain quantiser); 1, 2 and 3 search among more
        /// candidate codes, in more passes, measuring the pixel error through the synthesis.
        /// Files decode with any vqcodec either way.
        public var effort: Int = 0
        /// Take the code nearest to the analysis output at every position, ignoring its bits: the
        /// plain quantiser, the fastest encode and larger files. Only at effort 0.
        public var nearestCodes: Bool = false
        /// What one bit per pixel is worth, in dB of PSNR (not used with ``nearestCodes``): a code that saves rate
        /// is taken when it costs less PSNR than this many dB per bit per pixel saved, and one
        /// that spends rate when it gains more. nil: ``defaultRateDistortionSlope(bitsPerPixel:)``
        /// at the rate of the nearest codes, which follows the slope of the rate–distortion curve
        /// at the image's own rate.
        public var rateDistortionSlope: Double?
        public init() {}
    }

    /// Effort levels ``EncodeOptions/effort`` accepts.
    public static let effortRange = 0...3

    /// dB of PSNR per unit of ln(bits per pixel): how steeply PSNR rises with rate along the
    /// shipped levels' curves (about 1.7 dB per doubling of the rate).
    public static let rateDistortionSlopeTimesRate = 2.5

    /// The trade-off an effortful encode uses when the caller sets none, in dB per bit per pixel,
    /// for an image whose nearest codes cost `bitsPerPixel`: the curve's slope there,
    /// ``rateDistortionSlopeTimesRate`` / bpp (10 dB per bpp at 0.25 bpp, 4 at 0.625).
    public static func defaultRateDistortionSlope(bitsPerPixel: Double) -> Double {
        rateDistortionSlopeTimesRate / max(bitsPerPixel, 0.01)
    }

    /// Side in pixels of the blocks the transforms run on when the caller does not choose. The
    /// halo of 3 latent positions around each block repeats work: an interior block computes
    /// ((b + 6) / b)² of its own positions, b = 512 / stride: 1.20× at stride 8, 1.41× at stride 16.
    /// Peak memory measured with it is in the README ("Limits and memory").
    public static let defaultTransformBlockPixels = 512

    /// How ``decode(_:model:options:)`` reads a file: threads, memory, limits, and what to do with damage.
    public struct DecodeOptions: Sendable {
        /// Cores used for the tiles.
        public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        /// Side, in pixels, of the blocks the synthesis runs on (see ``EncodeOptions/transformBlockPixels``).
        public var transformBlockPixels: Int = VQCodec.defaultTransformBlockPixels
        /// Limits checked on the header before anything is allocated from it.
        public var limits: ContainerLimits = ContainerLimits()
        /// Decode what survives instead of failing on the first damaged tile: tiles that are cut
        /// off by the end of the file, fail their CRC-32, or cannot be decoded are filled with flat
        /// mid-grey (128 in every channel) and listed in ``DecodeResult/damagedTiles``. The header
        /// must still be intact and the model right. Pixels next to a damaged tile (within the
        /// synthesis halo, about 3 latent positions) are synthesised with code 0 standing in for
        /// the lost symbols.
        public var salvage: Bool = false
        public init() {}
    }

    /// A tile that a salvaging decode could not decode, and the pixels it filled instead.
    public struct TileDamage: Sendable, Equatable {
        /// The tile's index in raster order, as `vqcodec info` numbers it.
        public var tile: Int
        /// The pixels filled with mid-grey: columns `x ..< x + width`, rows `y ..< y + height`.
        public var x: Int, y: Int, width: Int, height: Int
        /// What was wrong, as a sentence (truncated, CRC mismatch, undecodable).
        public var reason: String
    }

    /// A `.vqc` file and what the encoder knows about it.
    public struct EncodeResult: Sendable {
        /// The `.vqc` file.
        public var bytes: [UInt8]
        public var header: VQCHeader
        /// The symbolic image, `[G, h, w]`.
        public var symbols: [Int32]
        /// Σ −log2 p of every symbol under the integer prior's tables: the ideal payload size in bits.
        public var priorBits: Double
        /// What `decode` will return, when `EncodeOptions.reconstruct` was set.
        public var reconstruction: Image?
        /// Real bits per pixel: 8 × file bytes / pixels.
        public var bitsPerPixel: Double { header.bitsPerPixel }
    }

    /// A decoded image, with the header and symbols it came from.
    public struct DecodeResult: Sendable {
        public var image: Image
        public var header: VQCHeader
        /// The symbolic image, `[G, h, w]` (0 in damaged tiles).
        public var symbols: [Int32]
        /// Tiles filled instead of decoded, in tile order; always empty unless ``DecodeOptions/salvage`` was set.
        public var damagedTiles: [TileDamage] = []
        /// True when the image is the exact decode of the file (no damaged tiles).
        public var isComplete: Bool { damagedTiles.isEmpty }
    }

    /// Encodes `image` with `model`.
    public static func encode(_ image: Image, model: CodecModel, options: EncodeOptions = EncodeOptions()) throws -> EncodeResult {
        precondition(options.tileSize > 0 && options.threads > 0)
        let config = model.configuration
        let latent = LatentGeometry(imageWidth: image.width, imageHeight: image.height, stride: config.stride,
                                    groups: config.groups, codebookSize: config.codebookSize)
        let fields = VQCHeaderFields(
            width: image.width, height: image.height, colorType: image.colorType == .gray ? .gray : .rgb,
            bitDepth: 8, modelName: model.name, modelChecksum: model.checksum, latent: latent,
            tileSize: TileSize(height: min(options.tileSize, latent.height), width: min(options.tileSize, latent.width)))
        try fields.validate(limits: options.limits)

        let block = blockPositions(options.transformBlockPixels, stride: config.stride)
        let symbols: [Int32]
        if let plan = CodeSearch.Plan.forOptions(options) {
            let subject = CodeSearch.subject(of: image, model: model, latentHeight: latent.height,
                                             latentWidth: latent.width, block: block)
            symbols = try CodeSearch.symbols(
                of: image, subject: subject, tiles: (0..<fields.tileCount).map(fields.latentRect(ofTile:)),
                latentHeight: latent.height, latentWidth: latent.width, block: block, plan: plan,
                slope: options.rateDistortionSlope, threads: options.threads).symbols
        } else {
            symbols = BlockTransforms.symbols(of: image, model: model, block: block)
        }
        precondition(symbols.count == config.groups * latent.height * latent.width)

        let coded = try TileParallelism.map(count: fields.tileCount, threads: options.threads) { index -> ([UInt8], Double) in
            let rect = fields.latentRect(ofTile: index)
            let tile = Tiles.extract(symbols, groups: config.groups, latentWidth: latent.width, latentHeight: latent.height, rect: rect)
            var encoder = RangeEncoder()
            let bits = model.prior.encode(symbols: tile, height: rect.height, width: rect.width, into: &encoder)
            var stream = encoder.finish()
            // A tile stream holds at least one byte (Formats/vqc.md); the decoder reads zeros
            // past the end of a stream, so a lone zero byte decodes exactly like an empty stream.
            if stream.isEmpty { stream = [0] }
            return (stream, bits)
        }
        let bytes = try VQCWriter.encode(fields, tileStreams: coded.map(\.0), limits: options.limits)
        let header = try VQCHeader.read(from: bytes, limits: options.limits)
        var reconstruction: Image?
        if options.reconstruct {
            reconstruction = synthesise(symbols: symbols, header: header, model: model, block: block)
        }
        return EncodeResult(bytes: bytes, header: header, symbols: symbols,
                            priorBits: coded.reduce(0) { $0 + $1.1 }, reconstruction: reconstruction)
    }

    /// Decodes a `.vqc` file with `model`, which must be the model that encoded it.
    public static func decode(_ bytes: [UInt8], model: CodecModel,
                              threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> DecodeResult {
        var options = DecodeOptions()
        options.threads = threads
        return try decode(bytes, model: model, options: options)
    }

    /// Decodes a `.vqc` file with `model`, which must be the model that encoded it.
    ///
    /// Memory: the file, the symbols (4 bytes per symbol), the output image, and the working set of
    /// one synthesis block (``DecodeOptions/transformBlockPixels``) and of one tile per thread;
    /// never a whole-image float tensor.
    /// Throws the file's first problem (``ContainerError``: truncated, damaged, wrong model, …;
    /// ``CodecError/tileUndecodable(tile:reason:)``), unless `options.salvage` lets damaged tiles through.
    public static func decode(_ bytes: [UInt8], model: CodecModel, options: DecodeOptions) throws -> DecodeResult {
        precondition(options.threads > 0 && options.transformBlockPixels > 0)
        let header: VQCHeader
        let file: VQCFile?
        var problems: [Int: String] = [:]
        if options.salvage {
            header = try VQCHeader.read(from: bytes, limits: options.limits)
            file = nil
            for (index, problem) in header.verifyTiles(in: bytes) { problems[index] = problem.description }
        } else {
            file = try VQCFile(bytes: bytes, limits: options.limits)
            header = file!.header
        }
        try header.requireModel(name: model.name, checksum: model.checksum)
        let config = model.configuration
        guard header.latent.groups == config.groups, header.latent.codebookSize == config.codebookSize,
              header.latent.stride == config.stride else {
            throw ContainerError.wrongModel(fileModel: header.modelName, fileChecksum: header.modelChecksum,
                                            givenModel: model.name, givenChecksum: model.checksum)
        }
        let (h, w, groups) = (header.latent.height, header.latent.width, config.groups)
        let known = problems
        let tiles = try TileParallelism.map(count: header.tileCount, threads: options.threads) { index -> Result<[Int32], CodecError> in
            if known[index] != nil { return .failure(.tileUndecodable(tile: index, reason: "")) }
            let entry = header.tiles[index]
            // Strict decoding checks each tile's CRC-32 here, in the tile's own task.
            let stream = try file?.tileStream(index) ?? bytes[entry.offset..<entry.end]
            let rect = header.latentRect(ofTile: index)
            do {
                var decoder = try RangeDecoder(bytes: stream)
                return .success(try model.prior.decode(height: rect.height, width: rect.width, from: &decoder))
            } catch {
                let failure = CodecError.tileUndecodable(tile: index, reason: "\(error)")
                if options.salvage { return .failure(failure) }
                throw failure
            }
        }
        var symbols = [Int32](repeating: 0, count: groups * h * w)
        var damaged: [Int] = []
        for (index, tile) in tiles.enumerated() {
            switch tile {
            case .success(let tileSymbols):
                Tiles.insert(tileSymbols, into: &symbols, groups: groups, latentWidth: w, latentHeight: h,
                             rect: header.latentRect(ofTile: index))
            case .failure(let error):
                damaged.append(index)
                if problems[index] == nil { problems[index] = error.description }
            }
        }
        let damage = damaged.map { index -> TileDamage in
            let rect = header.latentRect(ofTile: index)
            let x = rect.left * config.stride, y = rect.top * config.stride
            return TileDamage(tile: index, x: x, y: y, width: min(rect.width * config.stride, header.width - x),
                              height: min(rect.height * config.stride, header.height - y), reason: problems[index]!)
        }
        let image = synthesise(symbols: symbols, header: header, model: model,
                               block: blockPositions(options.transformBlockPixels, stride: config.stride), fill: damage)
        return DecodeResult(image: image, header: header, symbols: symbols, damagedTiles: damage)
    }

    /// Reads and validates a `.vqc` file's header (the tiles' CRCs are not checked).
    public static func readHeader(path: String) throws -> VQCHeader {
        let bytes = try FileIO.AtomicFile.read(path, maxBytes: Int(UInt32.max))
        return try VQCHeader.read(from: bytes)
    }

    static func synthesise(symbols: [Int32], header: VQCHeader, model: CodecModel, block: Int,
                           fill: [TileDamage] = []) -> Image {
        BlockTransforms.image(symbols: symbols, latentHeight: header.latent.height, latentWidth: header.latent.width,
                              width: header.width, height: header.height,
                              colorType: header.colorType == .gray ? .gray : .rgb, model: model, block: block,
                              fill: fill.map { (x: $0.x, y: $0.y, width: $0.width, height: $0.height) })
    }

    /// A block side in pixels as latent positions: rounded down to the stride, at least one.
    static func blockPositions(_ pixels: Int, stride: Int) -> Int { max(1, pixels / stride) }
}

/// Cutting the symbolic image `[G, h, w]` into tiles and putting it back together.
enum Tiles {
    /// The values of `rect` (symbols, or latent channels with `groups` = channels) from a `[G, h, w]` map.
    static func extract<Value>(_ symbols: [Value], groups: Int, latentWidth w: Int, latentHeight h: Int, rect: LatentRect) -> [Value] {
        var tile: [Value] = []
        tile.reserveCapacity(groups * rect.height * rect.width)
        for g in 0..<groups {
            for y in 0..<rect.height {
                let start = (g * h + rect.top + y) * w + rect.left
                tile.append(contentsOf: symbols[start..<(start + rect.width)])
            }
        }
        return tile
    }

    /// Puts a tile's values (symbols, or per-symbol costs) back at their places in the `[G, h, w]` map.
    static func insert<Value>(_ tile: [Value], into symbols: inout [Value], groups: Int, latentWidth w: Int, latentHeight h: Int, rect: LatentRect) {
        for g in 0..<groups {
            for y in 0..<rect.height {
                for x in 0..<rect.width {
                    symbols[(g * h + rect.top + y) * w + rect.left + x] = tile[(g * rect.height + y) * rect.width + x]
                }
            }
        }
    }
}
