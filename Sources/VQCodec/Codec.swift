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
    public static let defaultTileSize = 32

    public struct EncodeOptions: Sendable {
        /// Tile side in latent positions (tiles are square; edge tiles are cut to the image).
        public var tileSize: Int = VQCodec.defaultTileSize
        /// Cores used for the tiles.
        public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        /// Also synthesise the image a decoder will produce (for PSNR), at the cost of a decode's synthesis.
        public var reconstruct: Bool = false
        public init() {}
    }

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

    public struct DecodeResult: Sendable {
        public var image: Image
        public var header: VQCHeader
        /// The symbolic image, `[G, h, w]`.
        public var symbols: [Int32]
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
        try fields.validate()

        let input = Pixels.tensor(from: image, stride: config.stride)
        let symbols = model.withTransforms { $0.symbols(images: input) }
        precondition(symbols.count == config.groups * latent.height * latent.width)

        let coded = try TileParallelism.map(count: fields.tileCount, threads: options.threads) { index -> ([UInt8], Double) in
            let rect = fields.latentRect(ofTile: index)
            let tile = Tiles.extract(symbols, groups: config.groups, latentWidth: latent.width, latentHeight: latent.height, rect: rect)
            var encoder = RangeEncoder()
            var bits = 0.0
            model.prior.forEachTable(symbols: tile, height: rect.height, width: rect.width) { symbol, table in
                encoder.encode(symbol: symbol, table: table)
                bits -= log2(Double(table.frequency(of: symbol)) / Double(FrequencyTable.total))
            }
            var stream = encoder.finish()
            // A tile stream holds at least one byte (Formats/vqc.md); the decoder reads zeros
            // past the end of a stream, so a lone zero byte decodes exactly like an empty stream.
            if stream.isEmpty { stream = [0] }
            return (stream, bits)
        }
        let bytes = try VQCWriter.encode(fields, tileStreams: coded.map(\.0))
        let header = try VQCHeader.read(from: bytes)
        var reconstruction: Image?
        if options.reconstruct {
            reconstruction = synthesise(symbols: symbols, header: header, model: model)
        }
        return EncodeResult(bytes: bytes, header: header, symbols: symbols,
                            priorBits: coded.reduce(0) { $0 + $1.1 }, reconstruction: reconstruction)
    }

    /// Decodes a `.vqc` file with `model`, which must be the model that encoded it.
    public static func decode(_ bytes: [UInt8], model: CodecModel,
                              threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> DecodeResult {
        let file = try VQCFile(bytes: bytes)
        let header = file.header
        try header.requireModel(name: model.name, checksum: model.checksum)
        let config = model.configuration
        guard header.latent.groups == config.groups, header.latent.codebookSize == config.codebookSize,
              header.latent.stride == config.stride else {
            throw ContainerError.wrongModel(fileModel: header.modelName, fileChecksum: header.modelChecksum,
                                            givenModel: model.name, givenChecksum: model.checksum)
        }
        let (h, w, groups) = (header.latent.height, header.latent.width, config.groups)
        let tiles = try TileParallelism.map(count: header.tileCount, threads: threads) { index -> [Int32] in
            let rect = header.latentRect(ofTile: index)
            let stream = try file.tileStream(index)
            var decoder = try RangeDecoder(bytes: stream)
            do {
                return try model.prior.decode(height: rect.height, width: rect.width) { table in
                    try decoder.decode(table: table)
                }
            } catch let error as RangeCoderError {
                throw CodecError.tileUndecodable(tile: index, reason: "\(error)")
            }
        }
        var symbols = [Int32](repeating: 0, count: groups * h * w)
        for (index, tile) in tiles.enumerated() {
            Tiles.insert(tile, into: &symbols, groups: groups, latentWidth: w, latentHeight: h,
                         rect: header.latentRect(ofTile: index))
        }
        let image = synthesise(symbols: symbols, header: header, model: model)
        return DecodeResult(image: image, header: header, symbols: symbols)
    }

    /// Reads and validates a `.vqc` file's header (the tiles' CRCs are not checked).
    public static func readHeader(path: String) throws -> VQCHeader {
        let bytes = try FileIO.AtomicFile.read(path, maxBytes: Int(UInt32.max))
        return try VQCHeader.read(from: bytes)
    }

    static func synthesise(symbols: [Int32], header: VQCHeader, model: CodecModel) -> Image {
        let reconstruction = model.withTransforms {
            $0.reconstruct(symbols: symbols, batch: 1, height: header.latent.height, width: header.latent.width)
        }
        return Pixels.image(from: reconstruction, width: header.width, height: header.height,
                            colorType: header.colorType == .gray ? .gray : .rgb)
    }
}

/// Cutting the symbolic image `[G, h, w]` into tiles and putting it back together.
enum Tiles {
    static func extract(_ symbols: [Int32], groups: Int, latentWidth w: Int, latentHeight h: Int, rect: LatentRect) -> [Int32] {
        var tile = [Int32](repeating: 0, count: groups * rect.height * rect.width)
        for g in 0..<groups {
            for y in 0..<rect.height {
                for x in 0..<rect.width {
                    tile[(g * rect.height + y) * rect.width + x] = symbols[(g * h + rect.top + y) * w + rect.left + x]
                }
            }
        }
        return tile
    }

    static func insert(_ tile: [Int32], into symbols: inout [Int32], groups: Int, latentWidth w: Int, latentHeight h: Int, rect: LatentRect) {
        for g in 0..<groups {
            for y in 0..<rect.height {
                for x in 0..<rect.width {
                    symbols[(g * h + rect.top + y) * w + rect.left + x] = tile[(g * rect.height + y) * rect.width + x]
                }
            }
        }
    }
}
