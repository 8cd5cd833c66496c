import Container
import Engine
import Foundation
import Images
import RangeCoder

extension VQCodec {
    /// Where a `.vqc` file spends its bits: the decoded image and symbols, and the cost of every
    /// symbol under the integer prior, the tables the range coder actually used.
    ///
    /// The cost of symbol `s` coded with table `t` is `−log2(t.frequency(of: s) / 2^16)` bits.
    /// Summed over a tile it is the tile's ideal stream length; the real stream differs from it
    /// by the range coder's flush (at most 8 bits longer, at most 32 bits shorter: see
    /// ``TileCost``) and a truncation loss below 2^-16 of a bit per symbol.
    public struct Inspection: Sendable {
        public var header: VQCHeader
        /// The decoded image, exactly what `decode` returns.
        public var image: Image
        /// The symbolic image, `[G, h, w]`.
        public var symbols: [Int32]
        /// Cost in bits of each symbol, `[G, h, w]`, laid out like ``symbols``.
        public var bits: [Double]
        /// One entry per tile, in tile order.
        public var tiles: [TileCost]

        /// G: symbols per latent position.
        public var groups: Int { header.latent.groups }
        /// Latent positions, `h · w`.
        public var positions: Int { header.latent.height * header.latent.width }

        /// Cost in bits of each latent position, summed over the groups: `[h, w]`, row-major.
        public var positionBits: [Double] {
            let plane = positions
            var sum = [Double](repeating: 0, count: plane)
            for g in 0..<groups {
                for i in 0..<plane { sum[i] += bits[g * plane + i] }
            }
            return sum
        }

        /// Cost in bits of group `g`'s symbols, `[h, w]`, row-major.
        public func bits(ofGroup g: Int) -> ArraySlice<Double> {
            bits[(g * positions)..<((g + 1) * positions)]
        }

        /// Total cost in bits of each group's symbols.
        public var groupBits: [Double] { (0..<groups).map { bits(ofGroup: $0).reduce(0, +) } }

        /// Σ of every symbol's cost: the payload's ideal size in bits.
        public var totalBits: Double { tiles.reduce(0) { $0 + $1.bits } }
    }

    /// One tile's real size against the prior's ideal.
    ///
    /// Bound: `8 · bytes − bits` lies in `−32 − ε … 8 + ε`, ε = symbols · 2^-16 / ln 2 (plus 8
    /// when the coder wrote nothing and the container stored its one-byte minimum stream). The
    /// coder emits whole 32-bit words while its range stays ≥ 2^32, so the words hold at least
    /// `bits − 32` bits; the flush adds whole bytes until a number in the final interval is
    /// identified, at most 8 bits beyond `bits`. (`RangeCoder.swift`, surprises 3 and 4.)
    public struct TileCost: Sendable, Equatable {
        /// The tile's index in raster order, as `vqcodec info` numbers it.
        public var index: Int
        /// The tile's latent positions.
        public var rect: LatentRect
        /// Bytes of the tile's stream in the file.
        public var bytes: Int
        /// Σ −log2 p of the tile's symbols under the integer prior.
        public var bits: Double
        /// Symbols coded in the tile (positions × groups).
        public var symbols: Int
    }

    /// Decodes `bytes` with `model` (strictly: a damaged file throws as ``decode(_:model:options:)``
    /// does) and measures the cost of every symbol under the integer prior.
    public static func inspect(_ bytes: [UInt8], model: CodecModel, options: DecodeOptions = DecodeOptions()) throws -> Inspection {
        var strict = options
        strict.salvage = false
        let decoded = try decode(bytes, model: model, options: strict)
        let header = decoded.header
        let (h, w, groups) = (header.latent.height, header.latent.width, header.latent.groups)
        let scale = Double(FrequencyTable.total)
        let costs = try TileParallelism.map(count: header.tileCount, threads: options.threads) { index -> [Double] in
            let rect = header.latentRect(ofTile: index)
            let tile = Tiles.extract(decoded.symbols, groups: groups, latentWidth: w, latentHeight: h, rect: rect)
            var tileBits = [Double](repeating: 0, count: tile.count)
            var position = 0  // coding order: raster positions, groups within a position
            model.prior.forEachTable(symbols: tile, height: rect.height, width: rect.width) { symbol, table in
                let (g, p) = (position % groups, position / groups)
                tileBits[g * rect.height * rect.width + p] = -log2(Double(table.frequency(of: symbol)) / scale)
                position += 1
            }
            return tileBits
        }
        var bits = [Double](repeating: 0, count: decoded.symbols.count)
        var tiles: [TileCost] = []
        for (index, tileBits) in costs.enumerated() {
            let rect = header.latentRect(ofTile: index)
            Tiles.insert(tileBits, into: &bits, groups: groups, latentWidth: w, latentHeight: h, rect: rect)
            tiles.append(TileCost(index: index, rect: rect, bytes: header.tiles[index].length,
                                  bits: tileBits.reduce(0, +), symbols: tileBits.count))
        }
        return Inspection(header: header, image: decoded.image, symbols: decoded.symbols, bits: bits, tiles: tiles)
    }

    /// The symbols `[G, h, w]` the encoder chooses for `image` (analysis and nearest codes),
    /// without coding them.
    public static func symbols(of image: Image, model: CodecModel,
                               transformBlockPixels: Int = VQCodec.defaultTransformBlockPixels) -> [Int32] {
        BlockTransforms.symbols(of: image, model: model,
                                block: blockPositions(transformBlockPixels, stride: model.configuration.stride))
    }

    /// The code of each group nearest (Euclidean) to the mean of the group's codes weighted by
    /// `counts[g][k]`, the uses of code `k`: a neutral background against which another
    /// group's codes are drawn (``codeTiles(model:group:codes:reference:side:batch:)``).
    public static func centralCodes(model: CodecModel, counts: [[Int]]) -> [Int32] {
        let codebooks = model.vqvae.codebooks
        let (groups, size, d) = (codebooks.groups, codebooks.codebookSize, codebooks.dimension)
        precondition(counts.count == groups && counts.allSatisfy { $0.count == size })
        return (0..<groups).map { g -> Int32 in
            let total = Double(max(1, counts[g].reduce(0, +)))
            var mean = [Double](repeating: 0, count: d)
            for k in 0..<size where counts[g][k] > 0 {
                let weight = Double(counts[g][k]) / total
                for i in 0..<d { mean[i] += weight * Double(codebooks.vectors[(g * size + k) * d + i]) }
            }
            var best = 0, bestDistance = Double.infinity
            for k in 0..<size {
                var distance = 0.0
                for i in 0..<d {
                    let diff = Double(codebooks.vectors[(g * size + k) * d + i]) - mean[i]
                    distance += diff * diff
                }
                if distance < bestDistance { (best, bestDistance) = (k, distance) }
            }
            return Int32(best)
        }
    }

    /// One code decoded on its own (see ``codeTiles(model:group:codes:reference:side:batch:)``).
    public struct CodeTile: Sendable {
        /// The tile as the decoder would show it: rounded and clamped to 8 bits, RGB.
        public var image: Image
        /// The synthesis's output before clamping, in grey levels (× 255), `[3, side, side]`:
        /// two codes that both saturate to black still differ here.
        public var samples: [Float]
    }

    /// What single codes look like: for each of `codes` of group `group`, a latent map filled
    /// with that code (the other groups filled with `reference[g]`) is synthesised, and the
    /// middle `side × side` positions are cut out, away from the map's zero-padded edges
    /// (the map extends ``VQVAE/synthesisHalo`` positions beyond them on every side).
    /// - Returns: one tile of `side · stride` pixels square per code, in the order of `codes`.
    public static func codeTiles(model: CodecModel, group: Int, codes: [Int], reference: [Int32], side: Int,
                                 batch: Int = 16) -> [CodeTile] {
        let config = model.configuration
        precondition((0..<config.groups).contains(group) && reference.count == config.groups && side > 0 && batch > 0)
        precondition(codes.allSatisfy { (0..<config.codebookSize).contains($0) })
        let stride = config.stride
        var tiles: [CodeTile] = []
        model.withTransforms { vqvae in
            let halo = vqvae.synthesisHalo
            let map = side + 2 * halo
            let plane = map * map
            var start = 0
            while start < codes.count {
                let chunk = Array(codes[start..<min(start + batch, codes.count)])
                var symbols = [Int32](repeating: 0, count: chunk.count * config.groups * plane)
                for (n, code) in chunk.enumerated() {
                    for g in 0..<config.groups {
                        let value = g == group ? Int32(code) : reference[g]
                        let base = (n * config.groups + g) * plane
                        for i in 0..<plane { symbols[base + i] = value }
                    }
                }
                let out = vqvae.reconstruct(symbols: symbols, batch: chunk.count, height: map, width: map)
                let pixels = map * stride, tile = side * stride, origin = halo * stride
                out.data.withUnsafeBufferPointer { data in
                    for n in 0..<chunk.count {
                        var rgb = [UInt8](repeating: 0, count: tile * tile * 3)
                        var samples = [Float](repeating: 0, count: tile * tile * 3)
                        for c in 0..<3 {
                            let base = (n * 3 + c) * pixels * pixels
                            for y in 0..<tile {
                                for x in 0..<tile {
                                    let v = data[base + (origin + y) * pixels + origin + x]
                                    rgb[(y * tile + x) * 3 + c] = Pixels.quantize(v)
                                    samples[(c * tile + y) * tile + x] = v * 255
                                }
                            }
                        }
                        tiles.append(CodeTile(image: Image(width: tile, height: tile, colorType: .rgb, pixels: rgb),
                                              samples: samples))
                    }
                }
                start += chunk.count
            }
        }
        return tiles
    }
}
