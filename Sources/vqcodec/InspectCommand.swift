import ArgumentParser
import Container
import FileIO
import Foundation
import Images
import VQCodec

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show where a .vqc file spends its bits: per group, per tile and per latent position.",
        discussion: """
            Decodes the file with its model (found as decode finds it, or given with --model) and \
            measures the cost of every symbol under the integer prior: −log2 p, p the frequency \
            the range coder used over 2^16. Prints the bits per group and per tile against the \
            tiles' real sizes (the difference is the range coder's flush: at most 8 bits more, \
            at most 32 bits fewer per tile), and how the cost is spread over the latent \
            positions (quantiles, a histogram, the share of the bits in the costliest tenth).

            --bits writes a heatmap of each position's cost in bits per pixel (summed over the \
            groups) in the viridis colours, blended over the decoded image at full resolution; \
            the colour scale is printed. --symbols writes the symbolic image, one panel per \
            group, each code index in a colour of its own (the same in every file). --json \
            writes the per-position costs and the symbols for plotting elsewhere. Outputs are \
            written atomically.
            """)

    @Argument(help: "The .vqc file to inspect.")
    var input: String

    @Option(name: .long, help: "The model file (.safetensors) the image was encoded with.")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Write the bit heatmap (PNG, the decoded image's size).", valueName: "png"))
    var bits: String?

    @Option(name: .long, help: ArgumentHelp("Write the symbol map (PNG, one panel per group).", valueName: "png"))
    var symbols: String?

    @Option(name: .long, help: ArgumentHelp("Write costs and symbols as JSON.", valueName: "file"))
    var json: String?

    @Option(name: .long, help: ArgumentHelp("Top of the heatmap's colour scale in bits per pixel (default: the 99th percentile of the positions).", valueName: "bpp"))
    var scaleMax: Double?

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var limits: CodingLimitOptions

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        if let scaleMax, !(scaleMax > 0 && scaleMax.isFinite) {
            throw ValidationError("--scale-max must be a positive number of bits per pixel")
        }
    }

    func run() throws {
        let outputs = [bits, symbols, json].compactMap { $0 }
        for output in outputs where AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(input, maxBytes: Int(UInt32.max)) } catch { throw fail(error) }
        let version: UInt16
        do { version = try VQCFormat.version(of: bytes) } catch { throw fail(error, subject: input) }
        guard version != ProgressiveVQCHeader.currentVersion else {
            throw fail(CommandError.oneStageOnly(command: "inspect", reads: ".vqc files of format version 1",
                                                 found: "this file is format version 2 (progressive); vqcodec info lists its stages"),
                       subject: input)
        }
        let header: VQCHeader
        do { header = try VQCHeader.read(from: bytes, limits: limits.containerLimits) } catch { throw fail(error, subject: input) }
        let codecModel: CodecModel
        if let model {
            codecModel = try loadOneStageModel(model, for: "inspect", hint: "it did not encode a version-1 file")
        } else {
            do { codecModel = try ModelLookup.model(for: header, given: nil, file: input) } catch { throw fail(error, subject: input) }
        }
        var options = VQCodec.DecodeOptions()
        options.threads = threads
        options.limits = limits.containerLimits
        let inspection: VQCodec.Inspection
        do { inspection = try VQCodec.inspect(bytes, model: codecModel, options: options) } catch { throw fail(error, subject: input) }

        print(Self.report(inspection, path: input))
        let latent = header.latent
        let pixelsPerPosition = Double(latent.stride * latent.stride)
        let bitsPerPixel = inspection.positionBits.map { $0 / pixelsPerPosition }
        let top = scaleMax ?? max(Self.quantile(bitsPerPixel.sorted(), 0.99), 1e-6)
        if let bits {
            let picture = InspectionPictures.heatmap(image: inspection.image, positionBitsPerPixel: bitsPerPixel,
                                                     latentWidth: latent.width, stride: latent.stride, maximum: top)
            do { try PNG.write(picture, to: bits, refusingToOverwrite: [input]) } catch { throw fail(error) }
            print("\(bits): bit heatmap, colour scale 0 (dark violet) to \(format(top, 3)) bpp (yellow) "
                  + (scaleMax == nil ? "= the 99th percentile of the positions" : "as given")
                  + "; costlier positions are clipped to yellow")
        }
        if let symbols {
            let columns = latent.groups <= 3 ? latent.groups : (latent.groups + 1) / 2
            let scale = max(1, min(latent.stride, 512 / latent.width))
            let picture = InspectionPictures.symbolMap(symbols: inspection.symbols, groups: latent.groups,
                                                       latentHeight: latent.height, latentWidth: latent.width,
                                                       scale: scale, columns: columns)
            do { try PNG.write(picture, to: symbols, refusingToOverwrite: [input]) } catch { throw fail(error) }
            print("\(symbols): symbol map, \(latent.groups) panel\(latent.groups == 1 ? "" : "s") of "
                  + "\(latent.width) × \(latent.height) positions (group 0 top left, in rows of \(columns)), "
                  + "\(scale) × \(scale) pixels per position")
        }
        if let json {
            let document = InspectionJSON(inspection, file: input, scaleMax: top)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data: Data
            do { data = try encoder.encode(document) } catch { throw fail(error) }
            do { try AtomicFile.write([UInt8](data) + [10], to: json, refusingToOverwrite: [input]) } catch { throw fail(error) }
            print("\(json): per-position bits and symbols (JSON)")
        }
    }

    /// The printed report: header line, groups, tiles, and the spread over positions.
    static func report(_ inspection: VQCodec.Inspection, path: String) -> String {
        let header = inspection.header
        let latent = header.latent
        let pixels = Double(header.width * header.height)
        let total = inspection.totalBits
        let payloadBits = 8 * header.payloadByteCount
        var lines: [String] = []
        lines.append("\(path): \(header.width) × \(header.height) \(header.colorType == .gray ? "gray" : "RGB"), "
                     + "model \(header.modelName), \(latent.width) × \(latent.height) positions at stride \(latent.stride), "
                     + "\(latent.groups) group\(latent.groups == 1 ? "" : "s") × \(latent.codebookSize) codes")
        lines.append("  file \(header.fileByteCount) bytes, \(format(header.bitsPerPixel, 4)) bpp: header \(header.headerByteCount) bytes, "
                     + "payload \(header.payloadByteCount) bytes = \(payloadBits) bits in \(header.tileCount) tile\(header.tileCount == 1 ? "" : "s")")
        lines.append("  prior's −log2 p: \(format(total, 1)) bits (\(format(total / pixels, 4)) bpp); payload − prior: "
                     + "\(signed(Double(payloadBits) - total, 1)) bits (the range coder's flush)")
        lines.append("")
        lines.append("  group        bits     bpp   share   bits/position")
        let positions = Double(inspection.positions)
        for (g, groupBits) in inspection.groupBits.enumerated() {
            lines.append("  \(pad(g, 5))  \(pad(format(groupBits, 1), 10))  \(format(groupBits / pixels, 4))  "
                         + "\(pad(format(100 * groupBits / max(total, 1e-12), 1), 5)) %  \(pad(format(groupBits / positions, 2), 14))")
        }
        lines.append("")
        lines.append("  tile  rows×cols at     bytes   prior bits     bpp   bytes×8 − prior")
        for tile in inspection.tiles {
            let r = tile.rect
            let tilePixels = Double(min(r.height * latent.stride, header.height - r.top * latent.stride)
                                    * min(r.width * latent.stride, header.width - r.left * latent.stride))
            lines.append("  \(pad(tile.index, 4))  \(pad("\(r.height)×\(r.width) @\(r.top),\(r.left)", 12))  "
                         + "\(pad(tile.bytes, 6))  \(pad(format(tile.bits, 1), 11))  \(format(8 * Double(tile.bytes) / tilePixels, 4))  "
                         + "\(pad(signed(8 * Double(tile.bytes) - tile.bits, 1), 16))")
        }
        let sorted = inspection.positionBits.sorted()
        lines.append("")
        lines.append("  bits per position (groups summed): "
                     + [("min", 0.0), ("10 %", 0.1), ("25 %", 0.25), ("median", 0.5), ("75 %", 0.75), ("90 %", 0.9),
                        ("99 %", 0.99), ("max", 1.0)]
                        .map { "\($0.0) \(format(quantile(sorted, $0.1), 1))" }.joined(separator: ", "))
        lines.append("  bits per position   positions    bits")
        let edges: [Double] = [0, 2, 4, 8, 16, 32, 64, .infinity]
        for i in 0..<(edges.count - 1) {
            let inBin = sorted.filter { $0 >= edges[i] && $0 < edges[i + 1] }
            let label = edges[i + 1].isInfinite ? "≥ \(Int(edges[i]))" : "\(Int(edges[i])) – \(Int(edges[i + 1]))"
            lines.append("  \(pad(label, 17))  \(pad(format(100 * Double(inBin.count) / positions, 1), 8)) %  "
                         + "\(pad(format(100 * inBin.reduce(0, +) / max(total, 1e-12), 1), 5)) %")
        }
        let tenth = max(1, sorted.count / 10)
        let costliest = sorted.suffix(tenth).reduce(0, +)
        lines.append("  the costliest 10 % of positions (\(tenth)) carry \(format(100 * costliest / max(total, 1e-12), 1)) % of the bits")
        return lines.joined(separator: "\n")
    }

    /// The value below which a share `q` of `sorted` lies (nearest rank).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count - 1)).rounded())))]
    }
}

func signed(_ value: Double, _ decimals: Int) -> String { (value >= 0 ? "+" : "−") + format(abs(value), decimals) }

/// `vqcodec inspect --json`: costs in bits (4 decimals), row-major `[h][w]` flattened.
struct InspectionJSON: Encodable {
    struct Tile: Encodable {
        var index: Int, top: Int, left: Int, height: Int, width: Int
        /// The stream's bytes in the file.
        var bytes: Int
        /// Σ −log2 p of the tile's symbols.
        var bits: Double
    }
    struct Bits: Encodable {
        /// Per position, summed over the groups: `h · w` values.
        var total: [Double]
        /// Per group, per position: `G` arrays of `h · w` values.
        var groups: [[Double]]
    }
    var file: String
    var model: String
    var modelChecksum: String
    var width: Int
    var height: Int
    var stride: Int
    var latentWidth: Int
    var latentHeight: Int
    var groups: Int
    var codebookSize: Int
    var fileBytes: Int
    var payloadBytes: Int
    var priorBits: Double
    var heatmapScaleMaxBitsPerPixel: Double
    var tiles: [Tile]
    var bits: Bits
    /// Per group, per position: the code indices.
    var symbols: [[Int32]]

    init(_ inspection: VQCodec.Inspection, file: String, scaleMax: Double) {
        let h = inspection.header
        func round4(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
        self.file = file
        model = h.modelName
        modelChecksum = hex64(h.modelChecksum)
        width = h.width
        height = h.height
        stride = h.latent.stride
        latentWidth = h.latent.width
        latentHeight = h.latent.height
        groups = h.latent.groups
        codebookSize = h.latent.codebookSize
        fileBytes = h.fileByteCount
        payloadBytes = h.payloadByteCount
        priorBits = round4(inspection.totalBits)
        heatmapScaleMaxBitsPerPixel = round4(scaleMax)
        tiles = inspection.tiles.map {
            Tile(index: $0.index, top: $0.rect.top, left: $0.rect.left, height: $0.rect.height, width: $0.rect.width,
                 bytes: $0.bytes, bits: round4($0.bits))
        }
        bits = Bits(total: inspection.positionBits.map(round4),
                    groups: (0..<inspection.groups).map { inspection.bits(ofGroup: $0).map(round4) })
        let plane = inspection.positions
        symbols = (0..<inspection.groups).map { Array(inspection.symbols[($0 * plane)..<(($0 + 1) * plane)]) }
    }
}
