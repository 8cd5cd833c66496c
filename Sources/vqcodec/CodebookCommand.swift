import ArgumentParser
import FileIO
import Foundation
import Images
import VQCodec

struct CodebookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codebook",
        abstract: "What a model's codebooks hold: code use on a folder of images, unused codes, near-duplicates, a picture.",
        discussion: """
            Runs the analysis on every PNG of --data and counts, per group, how often each code is \
            chosen (the symbols the encoder codes): codes used, perplexity (2^entropy of the \
            counts; the codebook size when every code is equally used) and the codes never used.

            Each code is then decoded on its own: a latent map filled with that code, the other \
            groups filled with their central code (the code nearest the mean of the group's codes \
            weighted by their use on --data; printed), through the synthesis; \
            the middle of the map, 32 pixels square (4 × 4 positions at stride 8, 2 × 2 at stride \
            16), is the code's tile, away from the map's zero-padded edges. --out draws every \
            group's tiles, most used first, unused codes last, one block of rows per group.

            Near-duplicates: pairs of codes of a group whose tiles are within --threshold dB PSNR \
            of each other in three contexts, the other groups at their central, most used and second \
            most used code (default 40 dB: a mean squared difference of 6.5, about 2.5 grey levels, \
            at or below the step a viewer can see on a flat patch, and over 12 times smaller than \
            the squared error the best shipped level leaves on Kodak, MSE 81.8), measured on the synthesis's output \
            before clamping, so that two codes that both saturate to black are still told apart. \
            Such a pair spends two codes on one picture: the next training could merge them or \
            restart one. Codes to spare: taking the codes from the most used down, those with a \
            near-duplicate among the codes kept before them (each could merge into that one). \
            Typical PSNR: the median over the pairs of every 8th code, the scale against which the \
            threshold reads (a code of one group among many moves the image less).
            """)

    /// Contexts a near-duplicate pair must pass: the other groups at their central, most used and 2nd most used code.
    static let contexts = 3

    @Option(name: [.customShort("q"), .long], help: "A shipped quality level (default: the default level).")
    var quality: Int?

    @Option(name: .long, help: "A model file (.safetensors) instead of a shipped level.")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("A folder of PNG images (or one PNG) to count code use on.", valueName: "folder"))
    var data: String

    @Option(name: .long, help: "Use only the first N images of --data (name order).")
    var images: Int?

    @Option(name: .long, help: ArgumentHelp("Write the codebook picture (PNG).", valueName: "png"))
    var out: String?

    @Option(name: .long, help: ArgumentHelp("Write counts, unused codes and near-duplicate pairs as JSON.", valueName: "file"))
    var json: String?

    @Option(name: .long, help: "PSNR (dB) at or above which two codes' tiles count as near-duplicates.")
    var threshold = 40.0

    @Option(name: .long, help: "Tiles per row in the picture.")
    var columns = 32

    func validate() throws {
        guard quality == nil || model == nil else { throw ValidationError("give at most one of -q and --model") }
        if let images, images < 1 { throw ValidationError("--images must be at least 1") }
        guard threshold > 0 && threshold.isFinite else { throw ValidationError("--threshold must be a positive number of dB") }
        guard (1...1024).contains(columns) else { throw ValidationError("--columns must be between 1 and 1024") }
    }

    func run() throws {
        let codecModel: CodecModel
        if let model {
            codecModel = try loadOneStageModel(model, for: "codebook")
        } else {
            let catalogue = try shippedLevels()
            let chosen = quality ?? catalogue.defaultQuality
            guard let level = catalogue.level(chosen) else {
                throw fail(CodecError.noSuchQuality(chosen, available: catalogue.levels.count))
            }
            codecModel = try loadModel(catalogue.path(of: level))
        }
        var files = try pngFiles(in: data)
        if let images { files = Array(files.prefix(images)) }
        let config = codecModel.configuration
        let (groups, size) = (config.groups, config.codebookSize)

        var counts = [[Int]](repeating: [Int](repeating: 0, count: size), count: groups)
        var positions = 0
        for file in files {
            let image: Image
            do { image = try PNG.read(path: file) } catch { throw fail(error) }
            let symbols = VQCodec.symbols(of: image, model: codecModel)
            let plane = symbols.count / groups
            positions += plane
            for (i, s) in symbols.enumerated() { counts[i / plane][Int(s)] += 1 }
        }
        let usage = CodebookUsage(counts: counts, codebookSize: size)
        // Contexts: the other groups at their central code (nearest the mean of the codes in
        // use; the picture's background), then at their most used, then at their 2nd most used.
        let ranked = counts.map { row in row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 } }
        let reference = VQCodec.centralCodes(model: codecModel, counts: counts)
        let contexts = [reference] + (0..<min(Self.contexts - 1, size)).map { r in ranked.map { Int32($0[r]) } }

        let side = max(1, 32 / config.stride)
        print("model \(codecModel.name): stride \(config.stride), \(groups) group\(groups == 1 ? "" : "s") × \(size) codes; "
              + "\(files.count) image\(files.count == 1 ? "" : "s"), \(positions) positions")
        print("tiles: each code alone, the other groups at their central code, the code nearest the mean of the codes "
              + "in use (\(reference.enumerated().map { "group \($0.offset): \($0.element)" }.joined(separator: ", "))), "
              + "the middle \(side) × \(side) positions (\(side * config.stride) pixels)")
        print("near-duplicates: pairs of codes whose tiles are within \(format(threshold, 1)) dB PSNR with the other groups "
              + "at their central, most used and 2nd most used codes alike (the lowest of the \(contexts.count) PSNRs is shown)")
        print("")
        print("  group  codes used  perplexity  never used  typical PSNR  near-duplicate pairs  codes in them  codes to spare")
        var sections: [[Image]] = []
        var groupReports: [CodebookJSON.Group] = []
        var details: [String] = []
        var spareTotal = 0
        for g in 0..<groups {
            let tiles = VQCodec.codeTiles(model: codecModel, group: g, codes: Array(0..<size), reference: reference, side: side)
            var pairs = NearDuplicates.pairs(tiles: tiles.map(\.samples), minimumPSNR: threshold)
            // A pair is kept only if it stays within the threshold in every context: two codes
            // that one context drives to the same clipped colour may still differ elsewhere.
            for context in contexts.dropFirst() where !pairs.isEmpty {
                let involved = Array(Set(pairs.flatMap { [$0.first, $0.second] })).sorted()
                let other = VQCodec.codeTiles(model: codecModel, group: g, codes: involved, reference: context, side: side)
                let index = Dictionary(uniqueKeysWithValues: involved.enumerated().map { ($0.element, $0.offset) })
                pairs = pairs.compactMap { pair in
                    let psnr = NearDuplicates.psnr(other[index[pair.first]!].samples, other[index[pair.second]!].samples)
                    guard psnr >= threshold else { return nil }
                    return NearDuplicates.Pair(first: pair.first, second: pair.second, psnr: min(pair.psnr, psnr))
                }
            }
            pairs.sort { $0.psnr != $1.psnr ? $0.psnr > $1.psnr : ($0.first, $0.second) < ($1.first, $1.second) }
            let unused = (0..<size).filter { counts[g][$0] == 0 }
            let involved = Set(pairs.flatMap { [$0.first, $0.second] })
            let order = (0..<size).sorted { counts[g][$0] != counts[g][$1] ? counts[g][$0] > counts[g][$1] : $0 < $1 }
            let spare = Self.spareCodes(pairs, order: order)
            spareTotal += spare
            let typical = Self.typicalPSNR(tiles.map(\.samples))
            print("  \(pad(g, 5))  \(pad("\(usage.codesUsed[g])/\(size)", 10))  \(pad(format(usage.perplexity[g], 1), 10))  "
                  + "\(pad(unused.count, 10))  \(pad(format(typical, 1) + " dB", 12))  \(pad(pairs.count, 20))  "
                  + "\(pad(involved.count, 13))  \(pad(spare, 14))")
            if !unused.isEmpty { details.append("  group \(g): never used: \(ranges(unused))") }
            if !pairs.isEmpty {
                let shown = pairs.prefix(8).map { pair -> String in
                    let psnr = pair.psnr.isInfinite ? "identical" : "\(format(pair.psnr, 1)) dB"
                    return "\(pair.first)~\(pair.second) (\(psnr); used \(counts[g][pair.first]), \(counts[g][pair.second]))"
                }
                details.append("  group \(g): closest pairs: \(shown.joined(separator: ", "))\(pairs.count > 8 ? ", …" : "")")
                let withUnused = pairs.filter { counts[g][$0.first] == 0 || counts[g][$0.second] == 0 }.count
                if withUnused > 0 { details.append("  group \(g): \(withUnused) of the \(pairs.count) pairs include a code never used") }
            }
            sections.append(order.map { tiles[$0].image })
            groupReports.append(CodebookJSON.Group(
                group: g, counts: counts[g], codesUsed: usage.codesUsed[g], perplexity: (usage.perplexity[g] * 1000).rounded() / 1000,
                neverUsed: unused, referenceCode: Int(reference[g]), orderInPicture: order,
                nearDuplicates: pairs.map { .init(first: $0.first, second: $0.second, psnr: $0.psnr.isInfinite ? nil : ($0.psnr * 100).rounded() / 100) },
                codesToSpare: spare, typicalPSNR: typical.isFinite ? (typical * 100).rounded() / 100 : nil))
        }
        if !details.isEmpty { print(""); print(details.joined(separator: "\n")) }
        let total = groupReports.reduce(0) { $0 + $1.nearDuplicates.count }
        print("")
        print("near-duplicate pairs: \(total) in all; codes to spare: \(spareTotal) (from the most used down, codes with a "
              + "near-duplicate among those kept)")

        if let out {
            let picture = InspectionPictures.mosaic(sections: sections, columns: columns)
            do { try PNG.write(picture, to: out, refusingToOverwrite: files) } catch { throw fail(error) }
            print("\(out): \(groups) block\(groups == 1 ? "" : "s") of \(size) tiles (group 0 first), \(columns) per row, most used first")
        }
        if let json {
            let document = CodebookJSON(model: codecModel.name, stride: config.stride, codebookSize: size, images: files.count,
                                        positions: positions, thresholdDB: threshold, tilePixels: side * config.stride,
                                        groups: groupReports)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let bytes: Data
            do { bytes = try encoder.encode(document) } catch { throw fail(error) }
            do { try AtomicFile.write([UInt8](bytes) + [10], to: json, refusingToOverwrite: files) } catch { throw fail(error) }
            print("\(json): counts, unused codes and near-duplicate pairs (JSON)")
        }
    }

    /// Codes that could merge into a more used one: walking `order` (most used first), a code
    /// is kept unless it forms a near-duplicate pair with a code already kept.
    static func spareCodes(_ pairs: [NearDuplicates.Pair], order: [Int]) -> Int {
        var neighbours: [Int: [Int]] = [:]
        for pair in pairs {
            neighbours[pair.first, default: []].append(pair.second)
            neighbours[pair.second, default: []].append(pair.first)
        }
        var kept = Set<Int>()
        var spare = 0
        for code in order {
            if (neighbours[code] ?? []).contains(where: kept.contains) { spare += 1 } else { kept.insert(code) }
        }
        return spare
    }

    /// Median PSNR between the tiles of every 8th code (all pairs of them; every code in a
    /// codebook of fewer than 16).
    static func typicalPSNR(_ tiles: [[Float]]) -> Double {
        let sample = Swift.stride(from: 0, to: tiles.count, by: tiles.count >= 16 ? 8 : 1).map { tiles[$0] }
        var values: [Double] = []
        for a in sample.indices { for b in sample.indices where b > a { values.append(NearDuplicates.psnr(sample[a], sample[b])) } }
        guard !values.isEmpty else { return .nan }
        values.sort()
        return values[values.count / 2]
    }

    /// `0-3, 7, 9-10`: sorted indices as ranges.
    func ranges(_ values: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < values.count {
            var j = i
            while j + 1 < values.count && values[j + 1] == values[j] + 1 { j += 1 }
            parts.append(i == j ? "\(values[i])" : "\(values[i])-\(values[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}

/// `vqcodec codebook --json`.
struct CodebookJSON: Encodable {
    struct Pair: Encodable {
        var first: Int
        var second: Int
        /// Absent when the two tiles are identical.
        var psnr: Double?
    }
    struct Group: Encodable {
        var group: Int
        /// Uses of each code on the images.
        var counts: [Int]
        var codesUsed: Int
        var perplexity: Double
        var neverUsed: [Int]
        /// The code this group is filled with while another group's tiles are drawn (its central code).
        var referenceCode: Int
        /// Codes in the order the picture draws them (most used first).
        var orderInPicture: [Int]
        var nearDuplicates: [Pair]
        /// Codes with a near-duplicate among the more used codes kept before them.
        var codesToSpare: Int
        /// Median PSNR (dB) between the tiles of every 8th code: the threshold's scale (absent when
        /// not finite: fewer than two codes sampled, or identical tiles).
        var typicalPSNR: Double?
    }
    var model: String
    var stride: Int
    var codebookSize: Int
    var images: Int
    var positions: Int
    var thresholdDB: Double
    var tilePixels: Int
    var groups: [Group]
}
