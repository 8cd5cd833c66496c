import ArgumentParser
import FileIO
import Foundation
import Images
import VQCodec

struct RDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rd",
        abstract: "Rate–distortion over a folder: every model (quality level) on every image, as CSV and JSON.",
        discussion: """
            Encodes and decodes every PNG of the folder with each model and records, per image and as \
            the mean per model: real bits per pixel (file size), MSE and PSNR of the decoded image, the \
            integer prior's ideal bpp, the float prior's cross-entropy in bpp, the uniform bound \
            G·log2 K per position, encode and decode times, and how many codes of each codebook the \
            image used (the MEAN row's codes_used_all: used by at least one image of the folder; \
            the summary shows the smallest share over groups). A progressive model gives one row \
            and curve point per quality level, named "<model> q<k>" (its first k stages). The JSON follows CompressAI's results \
            format (one list entry per model, sorted by rate), so Tools/plot_rd.py draws it beside \
            JPEG, WebP and CompressAI's published curves.
            """)

    @Argument(help: "A folder of PNG images.")
    var folder: String

    @Option(name: [.customShort("q"), .long], help: "Shipped quality levels to run, e.g. -q 1,3 or -q 1 -q 3 (default: all, unless --model is given).")
    var quality: [String] = []

    @Option(name: .long, help: "A model file; repeat for several. Runs after the -q levels; a progressive model runs at each of its quality levels.")
    var model: [String] = []

    @Option(name: .long, help: "CSV file to write (per-image rows and per-model means).")
    var csv: String?

    @Option(name: .long, help: "JSON file to write (CompressAI results format).")
    var json: String?

    @Option(name: .long, help: "Name of the curve in the JSON.")
    var name = "vqcodec"

    @Option(name: .long, help: "Tile side in latent positions.")
    var tileSize = VQCodec.defaultTileSize

    @OptionGroup var effort: EffortOptions

    func validate() throws {
        for level in quality.flatMap({ $0.split(separator: ",") }) where Int(level.trimmingCharacters(in: .whitespaces)) == nil {
            throw ValidationError("-q takes quality level numbers, e.g. -q 1,3; found \"\(level)\"")
        }
        guard (1...4096).contains(tileSize) else { throw ValidationError("--tile-size must be between 1 and 4096") }
    }

    struct Row {
        var model: String
        var image: String
        var evaluation: VQCodec.Evaluation
    }

    func run() throws {
        let files = try pngFiles(in: folder)
        var paths: [String] = []
        let levels = quality.flatMap { $0.split(separator: ",") }.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if !levels.isEmpty || model.isEmpty {
            let catalogue = try shippedLevels()
            for quality in levels.isEmpty ? catalogue.levels.map(\.quality) : levels {
                guard let level = catalogue.level(quality) else {
                    throw fail(CodecError.noSuchQuality(quality, available: catalogue.levels.count))
                }
                paths.append(catalogue.path(of: level))
            }
        }
        let models = try paths.map { AnyCodecModel.oneStage(try loadModel($0)) } + model.map(loadAnyModel)
        var images: [(String, Image)] = []
        for file in files {
            do { images.append(((file as NSString).lastPathComponent, try PNG.read(path: file))) } catch { throw fail(error) }
        }
        var options = VQCodec.EncodeOptions()
        options.tileSize = tileSize
        effort.apply(to: &options)
        let modelLabels = Self.labels(models.map(\.name))
        // One curve point per one-stage model, one per quality level of a progressive model.
        var labels: [String] = []
        for (codecModel, label) in zip(models, modelLabels) {
            if case .progressive(let progressive) = codecModel {
                labels += (1...progressive.stageCount).map { "\(label) q\($0)" }
            } else {
                labels.append(label)
            }
        }
        var rows: [Row] = []
        var done = 0
        let progress = ProgressBar(total: models.count * images.count)
        for (codecModel, label) in zip(models, modelLabels) {
            for (imageName, image) in images {
                progress.show(done: done, label: "\(label) \(imageName)")
                do {
                    switch codecModel {
                    case .oneStage(let oneStage):
                        rows.append(Row(model: label, image: imageName,
                                        evaluation: try VQCodec.evaluate(image, model: oneStage, options: options)))
                    case .progressive(let progressive):
                        let levels = try VQCodec.evaluateStages(image, model: progressive, options: options)
                        for (index, evaluation) in levels.enumerated() {
                            rows.append(Row(model: "\(label) q\(index + 1)", image: imageName, evaluation: evaluation))
                        }
                    }
                } catch { progress.finish(); throw fail(error, subject: imageName) }
                done += 1
            }
        }
        progress.finish()

        let means = labels.map { label in Self.mean(of: rows.filter { $0.model == label }.map(\.evaluation)) }
        print("model                         bpp   PSNR dB      MSE  prior-bpp  float-bpp  uniform-bpp  enc s  dec s  codes used")
        for (label, mean) in zip(labels, means) {
            print("\(label.padding(toLength: 24, withPad: " ", startingAt: 0)) \(pad(format(mean.bpp, 4), 8))  "
                  + "\(pad(format(mean.psnr, 2), 8))  \(pad(format(mean.mse, 2), 7))  \(pad(format(mean.priorBpp, 4), 9))  "
                  + "\(pad(mean.floatBpp.map { format($0, 4) } ?? "-", 9))  \(pad(format(mean.uniformBpp, 4), 11))  "
                  + "\(pad(format(mean.encodeSeconds, 2), 5))  \(pad(format(mean.decodeSeconds, 2), 5))  "
                  + "\(pad(format(100 * mean.codebookUseFraction, 1), 9))%")
        }
        if let csv {
            do { try AtomicFile.write(Array(Self.csvText(rows: rows, labels: labels, means: means).utf8), to: csv) } catch { throw fail(error) }
        }
        if let json {
            let order = means.indices.sorted { means[$0].bpp < means[$1].bpp }
            let text = Self.jsonText(name: name, folder: folder, imageCount: images.count,
                                     labels: order.map { labels[$0] }, means: order.map { means[$0] })
            do { try AtomicFile.write(Array(text.utf8), to: json) } catch { throw fail(error) }
        }
    }

    /// A name per model for the tables: its own, or `name#k` for the k-th of several models that
    /// share one (an F16 and an F32 copy, say), so their rows and means stay apart.
    static func labels(_ names: [String]) -> [String] {
        var seen: [String: Int] = [:]
        return names.map { name in
            guard names.filter({ $0 == name }).count > 1 else { return name }
            seen[name, default: 0] += 1
            return "\(name)#\(seen[name]!)"
        }
    }

    struct Mean {
        var bpp = 0.0, psnr = 0.0, mse = 0.0, priorBpp = 0.0, uniformBpp = 0.0, encodeSeconds = 0.0, decodeSeconds = 0.0
        var floatBpp: Double?
        var codesUsed: [Double] = []
        /// Per group: codes used by at least one image of the folder.
        var codesUsedAll: [Int] = []
        var codebookSize = 0
        /// The smallest share, over groups, of codes used by at least one image.
        var codebookUseFraction: Double {
            guard codebookSize > 0, let least = codesUsedAll.min() else { return 0 }
            return Double(least) / Double(codebookSize)
        }
    }

    /// Means over images of per-image figures (PSNR too: the mean of per-image PSNR, as CompressAI reports).
    static func mean(of rows: [VQCodec.Evaluation]) -> Mean {
        let n = Double(rows.count)
        func avg(_ f: (VQCodec.Evaluation) -> Double) -> Double { rows.reduce(0) { $0 + f($1) } / n }
        var m = Mean()
        m.bpp = avg(\.bitsPerPixel); m.psnr = avg(\.distortion.psnr); m.mse = avg(\.distortion.meanSquaredError)
        m.priorBpp = avg(\.integerPriorBitsPerPixel); m.uniformBpp = avg(\.uniformBitsPerPixel)
        m.encodeSeconds = avg(\.encodeSeconds); m.decodeSeconds = avg(\.decodeSeconds)
        if rows.allSatisfy({ $0.floatPriorBitsPerPixel != nil }) { m.floatBpp = avg { $0.floatPriorBitsPerPixel! } }
        let groups = rows.first?.codesUsed.count ?? 0
        m.codesUsed = (0..<groups).map { g in avg { Double($0.codesUsed[g]) } }
        if let all = CodebookUsage.combined(rows.map(\.codebookUsage)) {
            m.codesUsedAll = all.codesUsed
            m.codebookSize = all.codebookSize
        }
        return m
    }

    static func csvText(rows: [Row], labels: [String], means: [Mean]) -> String {
        var text = "model,image,width,height,bytes,bpp,mse,psnr,integer_prior_bpp,float_prior_bpp,uniform_bpp,codes_used,encode_s,decode_s,codes_used_all\n"
        for r in rows {
            let e = r.evaluation
            text += "\(r.model),\(r.image),\(e.width),\(e.height),\(e.fileBytes),\(e.bitsPerPixel),\(e.distortion.meanSquaredError),"
                + "\(e.distortion.psnr),\(e.integerPriorBitsPerPixel),\(e.floatPriorBitsPerPixel.map { "\($0)" } ?? ""),"
                + "\(e.uniformBitsPerPixel),\(e.codesUsed.map(String.init).joined(separator: "/")),\(e.encodeSeconds),\(e.decodeSeconds),\n"
        }
        for (label, mean) in zip(labels, means) {
            text += "\(label),MEAN,,,,\(mean.bpp),\(mean.mse),\(mean.psnr),\(mean.priorBpp),\(mean.floatBpp.map { "\($0)" } ?? ""),"
                + "\(mean.uniformBpp),\(mean.codesUsed.map { format($0, 1) }.joined(separator: "/")),\(mean.encodeSeconds),\(mean.decodeSeconds),\(mean.codesUsedAll.map(String.init).joined(separator: "/"))\n"
        }
        return text
    }

    static func jsonText(name: String, folder: String, imageCount: Int, labels: [String], means: [Mean]) -> String {
        func list(_ values: [Double]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
        func quote(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default:
                    if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out + "\""
        }
        let description = "vqcodec real file sizes on \(imageCount) images of \((folder as NSString).lastPathComponent); "
            + "models: " + labels.joined(separator: ", ")
        return """
            {
              "name": \(quote(name)),
              "description": \(quote(description)),
              "results": {
                "psnr-rgb": \(list(means.map(\.psnr))),
                "mse": \(list(means.map(\.mse))),
                "bpp": \(list(means.map(\.bpp))),
                "encoding_time": \(list(means.map(\.encodeSeconds))),
                "decoding_time": \(list(means.map(\.decodeSeconds))),
                "integer_prior_bpp": \(list(means.map(\.priorBpp))),
                "float_prior_bpp": \(list(means.map { $0.floatBpp ?? .nan }).replacingOccurrences(of: "nan", with: "null")),
                "uniform_bpp": \(list(means.map(\.uniformBpp))),
                "codebook_use": \(list(means.map(\.codebookUseFraction)))
              },
              "models": [\(labels.map { quote($0) }.joined(separator: ", "))]
            }

            """
    }
}

/// A progress bar on standard error when it is a terminal; silent otherwise (logs stay clean).
final class ProgressBar {
    let total: Int
    let interactive = isatty(2) != 0
    let start = Date()

    init(total: Int) { self.total = total }

    func show(done: Int, label: String) {
        guard interactive else { return }
        let width = 30
        let filled = total == 0 ? width : done * width / total
        let elapsed = Date().timeIntervalSince(start)
        let eta = done == 0 ? "" : " ETA \(Int(elapsed / Double(done) * Double(total - done)))s"
        printError("\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] "
                   + "\(done)/\(total)\(eta)  \(label)\u{1B}[K")
    }

    func finish() {
        guard interactive else { return }
        printError("\r\u{1B}[K")
    }
}
