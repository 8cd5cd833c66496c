import ArgumentParser
import Container
import FileIO
import Foundation
import Images
import SafeTensors
import VQCodec

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Compress a PNG image into a .vqc file.",
        discussion: """
            Reads 8- or 16-bit gray, gray+alpha, RGB, RGBA or palette PNGs (alpha must be fully \
            opaque). Prints the real bits per pixel of the file written; with --psnr also the PSNR \
            of the image decode will produce. The output is written atomically: an existing file \
            is replaced only on success, and the input is never overwritten.

            The model is a shipped quality level (`vqcodec models` lists them; without -q, --target-bpp \
            or --model, the default level) or any model file given with --model. --target-bpp picks \
            the highest level whose real file fits the budget, encoding about log2(levels) + 1 times; \
            when none fits it uses the lowest level and says so.

            A progressive model file (--model) holds quality levels 1 to S as residual stages and \
            writes .vqc files of format version 2, whose first K stages are themselves the file of \
            quality K (vqcodec truncate cuts one without the model). With such a model, -q K encodes \
            its first K stages (default: all of them), and --target-bpp encodes once at all stages \
            and keeps the most leading stages whose real file fits the budget (when not even stage 1 \
            fits, it keeps stage 1 and says so). -q and --target-bpp with a one-stage model file \
            are refused.

            The encoder chooses, at every position, among the codes nearest to the analysis \
            output those that minimise the decoded image's squared error plus --lambda times the \
            bits the prior charges (docs/design.md): by default (--effort 0) the 8 nearest, judged \
            by a model of the synthesis; --effort 1, 2 or 3 spends more encoding time for smaller \
            files at the same quality, searching the nearest 4, 8 or 16 through the synthesis \
            itself. --nearest-codes takes the nearest code everywhere: the fastest encode, larger \
            files. The file format and the decoder do not change. With a progressive model the \
            codes are chosen stage by stage, so cut files stay exact.

            Many images: vqcodec encode a.png b.png ... --out-dir DIR [--jobs N] writes DIR/a.vqc, \
            DIR/b.vqc, ...; a file that fails is reported and the others go on; the exit status is \
            then that of the first failed file. Images over --max-pixels are refused from their \
            header, before their pixels are read. Memory: about 80 MB, plus about 9 bytes \
            per pixel for the image, its PNG file and its symbols (measured peaks: 81 MB for a \
            0.4-megapixel photo, 113 MB for 4 megapixels); the transforms run on 512-pixel \
            blocks, so their working set does not grow with the image.
            """)

    @Argument(help: "The PNG image to compress.")
    var input: String

    @Argument(help: "The .vqc file to write (with --out-dir: another PNG image to compress).")
    var output: String?

    @Argument(help: "With --out-dir: more PNG images to compress.")
    var moreInputs: [String] = []

    @Option(name: [.customShort("q"), .long], help: "Quality level: 1 (smallest files) to the highest shipped level; with a progressive --model, its number of stages.")
    var quality: Int?

    @Option(name: .long, help: "Largest bits per pixel allowed: the best quality level whose file fits.")
    var targetBpp: Double?

    @Option(name: .long, help: "A model file (.safetensors) to encode with instead of a shipped level; -q and --target-bpp pick a progressive model's quality level.")
    var model: String?

    @Flag(name: .long, help: "Also report the PSNR of the decoded image (costs a synthesis pass).")
    var psnr = false

    @Option(name: .long, help: "Tile side in latent positions (tiles code in parallel).")
    var tileSize = VQCodec.defaultTileSize

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: ArgumentHelp("Write each input's .vqc file into this folder (created if missing); allows many inputs.", valueName: "folder"))
    var outDir: String?

    @Option(name: .long, help: "With --out-dir: files encoded at once (each job loads its own copy of the model).")
    var jobs = 1

    @OptionGroup var effort: EffortOptions

    @OptionGroup var limits: CodingLimitOptions

    func validate() throws {
        guard (1...4096).contains(tileSize) else { throw ValidationError("--tile-size must be between 1 and 4096") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
        if outDir == nil {
            guard output != nil else { throw ValidationError("Missing expected argument '<output>' (or give --out-dir)") }
            guard moreInputs.isEmpty else { throw ValidationError("several inputs need --out-dir DIR") }
        }
        guard quality == nil || targetBpp == nil else { throw ValidationError("give at most one of -q and --target-bpp") }
        if let targetBpp, !(targetBpp > 0 && targetBpp.isFinite) {
            throw ValidationError("--target-bpp must be a positive number of bits per pixel")
        }
    }

    func run() throws {
        let choice = try modelChoice()
        if let outDir {
            let inputs = [input] + (output.map { [$0] } ?? []) + moreInputs
            let jobList = try Batch.jobs(inputs: inputs, folder: outDir, newExtension: "vqc")
            do { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) } catch {
                throw fail(FileIOError.cannotCreate(path: outDir, reason: "cannot create the folder"))
            }
            try Batch.run(jobList, workers: jobs, makeContext: { try EncodeModels(choice) }) { job, models in
                try encode(job.input, to: job.output, with: models, inputs: inputs,
                           threads: max(1, threads / min(jobs, jobList.count)))
            }
            return
        }
        print(try encode(input, to: output!, with: EncodeModels(choice), inputs: [input], threads: threads))
    }

    /// Which model files the options ask for.
    func modelChoice() throws -> EncodeModels.Choice {
        if let argument = model {
            let model = ModelLookup.path(ofModelArgument: argument)
            if let quality { return .stages(quality, model: model) }
            if let targetBpp { return .stagesFitting(targetBpp, model: model) }
            return .file(model)
        }
        let catalogue = try shippedLevels()
        let paths = catalogue.levels.map { catalogue.path(of: $0) }
        if let targetBpp { return .fitting(targetBpp, levels: paths) }
        let chosen = quality ?? catalogue.defaultQuality
        guard let level = catalogue.level(chosen) else {
            throw fail(CodecError.noSuchQuality(chosen, available: catalogue.levels.count))
        }
        return .file(catalogue.path(of: level))
    }

    /// Encodes one file and returns its report line; failures are printed and thrown as exit codes.
    func encode(_ input: String, to output: String, with models: EncodeModels, inputs: [String], threads: Int) throws -> String {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let image: Image
        do { image = try PNG.read(path: input, limits: limits.imageLimits) } catch { throw fail(error) }
        var options = VQCodec.EncodeOptions()
        options.tileSize = tileSize
        options.threads = threads
        options.reconstruct = psnr
        options.limits = limits.containerLimits
        effort.apply(to: &options)
        if case .progressive(let progressive) = models.single {
            return try encodeProgressive(image, input: input, to: output, with: progressive, choice: models.choice,
                                         inputs: inputs + models.paths, options: options)
        }
        let start = Date()
        let result: VQCodec.EncodeResult
        var note = ""
        switch models.choice {
        case .file, .stages, .stagesFitting:
            // init refused -q and --target-bpp with a one-stage model; progressive models returned above.
            guard case .oneStage(let model) = models.single else { preconditionFailure("a single one-stage model") }
            do { result = try VQCodec.encode(image, model: model, options: options) } catch { throw fail(error, subject: input) }
        case .fitting(let target, let levels):
            let fit: VQCodec.RateFit
            do {
                fit = try VQCodec.encode(image, fitting: target, levels: levels.count, model: models.model, options: options)
            } catch let exit as ExitCode { throw exit } catch { throw fail(error, subject: input) }
            result = fit.result
            let tried = fit.tried.sorted { $0.key < $1.key }.map { "q\($0.key + 1) \(format($0.value, 3))" }.joined(separator: ", ")
            if fit.fits {
                note = "quality \(fit.level + 1) fits \(format(target, 3)) bpp (tried \(tried) bpp)\n"
            } else {
                printError("vqcodec: \(input): no quality level fits \(format(target, 3)) bpp (tried \(tried) bpp); "
                           + "using the lowest, quality 1\n")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        do { try AtomicFile.write(result.bytes, to: output, refusingToOverwrite: inputs + models.paths) } catch { throw fail(error) }
        let pixels = Double(image.width * image.height)
        var line = note + "\(output): \(result.bytes.count) bytes, \(format(result.bitsPerPixel, 4)) bpp "
            + "(prior ideal \(format(result.priorBits / pixels, 4)) bpp), \(result.header.tileCount) tiles, "
            + "\(format(seconds, 2)) s"
        if let reconstruction = result.reconstruction {
            let distortion = Distortion(original: image, reconstruction: reconstruction)
            line += ", PSNR \(format(distortion.psnr, 2)) dB (MSE \(format(distortion.meanSquaredError, 2)))"
        }
        return line
    }
}

/// The models one encoding job uses, loaded when first needed and kept: one file, or the shipped
/// levels for --target-bpp. Used by one thread at a time.
final class EncodeModels {
    enum Choice {
        /// One model file (a progressive one at all its stages).
        case file(String)
        /// The first stages of a progressive model file.
        case stages(Int, model: String)
        /// The most leading stages of a progressive model file whose file fits this many bits per pixel.
        case stagesFitting(Double, model: String)
        /// The highest level (paths lowest quality first) whose file fits this many bits per pixel.
        case fitting(Double, levels: [String])
    }

    let choice: Choice
    private var loaded: [Int: CodecModel] = [:]
    /// The single model file's model (either kind), or nil for the shipped levels of --target-bpp.
    private(set) var single: AnyCodecModel?

    /// Loads the single model now (so a bad model file, or one that cannot give the stages asked
    /// for, fails before any image is read).
    init(_ choice: Choice) throws {
        self.choice = choice
        switch choice {
        case .fitting: return
        case .file(let path):
            single = try loadAnyModel(path)
        case .stages(let stages, let path):
            let model = try loadAnyModel(path)
            guard case .progressive(let progressive) = model else {
                throw fail(CodecError.notProgressive(model: model.name, option: "-q"), subject: path)
            }
            guard (1...progressive.stageCount).contains(stages) else {
                throw fail(CodecError.stagesOutOfRange(requested: stages, available: progressive.stageCount,
                                                       model: progressive.name), subject: path)
            }
            single = model
        case .stagesFitting(_, let path):
            let model = try loadAnyModel(path)
            guard case .progressive = model else {
                throw fail(CodecError.notProgressive(model: model.name, option: "--target-bpp"), subject: path)
            }
            single = model
        }
    }

    /// Every model path involved, which outputs must never overwrite.
    var paths: [String] {
        switch choice {
        case .file(let path), .stages(_, let path), .stagesFitting(_, let path): return [path]
        case .fitting(_, let levels): return levels
        }
    }

    /// The model of shipped level `index` (lowest quality first).
    func model(_ index: Int) throws -> CodecModel {
        if let model = loaded[index] { return model }
        let model = try loadModel(paths[index])
        loaded[index] = model
        return model
    }
}

/// The shipped quality levels, or the CLI's message and exit code when they cannot be found.
func shippedLevels() throws -> ShippedModels.Catalogue {
    do { return try ShippedModels.levels() } catch { throw fail(error) }
}

/// Loads a model file, turning any failure into the CLI's message and exit code.
func loadModel(_ argument: String) throws -> CodecModel {
    let path = ModelLookup.path(ofModelArgument: argument)
    do { return try CodecModel(path: path) } catch { throw fail(error, subject: path) }
}

/// Loads a one-stage model file for `command`, which reads no progressive models: those are
/// refused with a sentence that says so (`hint`: what to use instead), not a missing-key error.
func loadOneStageModel(_ argument: String, for command: String, hint: String? = nil) throws -> CodecModel {
    let path = ModelLookup.path(ofModelArgument: argument)
    do {
        let file = try SafeTensorsFile(contentsOf: path)
        guard !ProgressiveCodecModel.isProgressive(file) else {
            throw CommandError.oneStageOnly(command: command, reads: "one-stage models",
                                            found: "this is a progressive model" + (hint.map { "; \($0)" } ?? ""))
        }
        return try CodecModel(file: file, source: path)
    } catch { throw fail(error, subject: path) }
}

/// Loads a model file of either kind (one-stage or progressive), turning any failure into the
/// CLI's message and exit code.
func loadAnyModel(_ argument: String) throws -> AnyCodecModel {
    let path = ModelLookup.path(ofModelArgument: argument)
    do { return try AnyCodecModel.load(path: path) } catch { throw fail(error, subject: path) }
}

extension EncodeCommand {
    /// Encodes with a progressive model: all its stages, the first `-q` ones, or the most leading
    /// stages that fit `--target-bpp` (one encode at all stages, then cut). Returns the report line.
    func encodeProgressive(_ image: Image, input: String, to output: String, with model: ProgressiveCodecModel,
                           choice: EncodeModels.Choice, inputs: [String], options: VQCodec.EncodeOptions) throws -> String {
        var options = options
        let pixels = Double(image.width * image.height)
        let start = Date()
        var bytes: [UInt8]
        var priorBits: [Double]
        var reconstruction: Image?
        var note = ""
        do {
            switch choice {
            case .stagesFitting(let target, _):
                options.reconstruct = false
                let full = try VQCodec.encode(image, model: model, options: options)
                let header = full.header
                let fitting = VQCodec.stages(fitting: target, header: header)
                let sizes = (1...header.stageCount).map { "q\($0) \(format(8 * Double(header.fileByteCount(stages: $0)) / pixels, 3))" }
                    .joined(separator: ", ")
                if let fitting {
                    note = "quality \(fitting) of \(header.stageCount) fits \(format(target, 3)) bpp (\(sizes) bpp)\n"
                } else {
                    printError("vqcodec: \(input): no quality level fits \(format(target, 3)) bpp (\(sizes) bpp); "
                               + "using the lowest, quality 1\n")
                }
                let stages = fitting ?? 1
                bytes = try VQCodec.truncate(full.bytes, toStages: stages, limits: options.limits)
                priorBits = Array(full.priorBits.prefix(stages))
                if psnr {
                    var decodeOptions = VQCodec.DecodeOptions()
                    decodeOptions.threads = options.threads
                    decodeOptions.limits = options.limits
                    reconstruction = try VQCodec.decode(bytes, model: model, options: decodeOptions).image
                }
            case .stages(let stages, _):
                let result = try VQCodec.encode(image, model: model, stages: stages, options: options)
                (bytes, priorBits, reconstruction) = (result.bytes, result.priorBits, result.reconstruction)
            case .file, .fitting:
                let result = try VQCodec.encode(image, model: model, options: options)
                (bytes, priorBits, reconstruction) = (result.bytes, result.priorBits, result.reconstruction)
            }
        } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try AtomicFile.write(bytes, to: output, refusingToOverwrite: inputs) } catch { throw fail(error) }
        let tiles = (try? ProgressiveVQCHeader.read(from: bytes, limits: options.limits).tileCount) ?? 0
        var line = note + "\(output): \(bytes.count) bytes, \(format(8 * Double(bytes.count) / pixels, 4)) bpp "
            + "(prior ideal \(format(priorBits.reduce(0, +) / pixels, 4)) bpp), \(priorBits.count) of \(model.stageCount) stages, "
            + "\(tiles) tiles, \(format(seconds, 2)) s"
        if let reconstruction {
            let distortion = Distortion(original: image, reconstruction: reconstruction)
            line += ", PSNR \(format(distortion.psnr, 2)) dB (MSE \(format(distortion.meanSquaredError, 2)))"
        }
        return line
    }
}
