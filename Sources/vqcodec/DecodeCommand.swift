import ArgumentParser
import Container
import FileIO
import Foundation
import Images
import VQCodec

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Reconstruct a PNG image from a .vqc file.",
        discussion: """
            The model is the one given with --model, or else found by the name and checksum stored \
            in the file: among the shipped quality levels, then among the .safetensors files of \
            $VQCODEC_MODEL_PATH (colon-separated folders) and of the .vqc file's folder. The output \
            is written atomically.

            With --salvage, tiles that are damaged (CRC-32 mismatch), missing (file cut short) or \
            undecodable are filled with flat mid-grey (128) instead of failing; each is named on \
            standard error, the image is written, and the exit status is 74 so that scripts can \
            tell a salvaged image from a perfect one (0).

            Many files: vqcodec decode a.vqc b.vqc ... --out-dir DIR [--jobs N] writes DIR/a.png, \
            DIR/b.png, ...; a file that fails is reported and the others go on; the exit status is \
            then that of the first failed file. Memory: about 85 MB, plus about 9 bytes per \
            pixel for the image, its PNG file and the .vqc (measured peaks: 88 MB for a \
            0.4-megapixel photo, 119 MB for 4 megapixels); the synthesis runs on 512-pixel \
            blocks, so its working set does not grow with the image.

            Progressive files (format version 2, written by a progressive model) hold quality \
            levels 1 to S as leading stages: -q K decodes only the first K stages. With --salvage, \
            a version-2 file cut short or damaged in a later stage decodes at its intact leading \
            stages; what was dropped is named on standard error and the exit status is 74. The \
            report line gives the stages decoded and their bits per pixel.
            """)

    @Argument(help: "The .vqc file to decode.")
    var input: String

    @Argument(help: "The PNG image to write (with --out-dir: another .vqc file to decode).")
    var output: String?

    @Argument(help: "With --out-dir: more .vqc files to decode.")
    var moreInputs: [String] = []

    @Option(name: .long, help: "The model file (.safetensors) the image was encoded with.")
    var model: String?

    @Option(name: [.customShort("q"), .long], help: "Progressive (version-2) files: decode only the first K stages (quality level K).")
    var quality: Int?

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .long, help: "Fill damaged or missing tiles with mid-grey instead of failing (exit status 74).")
    var salvage = false

    @Option(name: .long, help: ArgumentHelp("Write each input's PNG into this folder (created if missing); allows many inputs.", valueName: "folder"))
    var outDir: String?

    @Option(name: .long, help: "With --out-dir: files decoded at once (each job loads its own copy of the model).")
    var jobs = 1

    @Option(name: .long, help: ArgumentHelp(
        "How hard to compress the PNG: a zlib level from 0 (fastest, largest) to 9 (smallest, slowest). "
            + "The pixels are the same at every level; 2 writes files about 7 % larger than the default 6 in about half the time.",
        valueName: "level"))
    var pngCompression = PNGCompression.default.level

    /// `--png-compression` as the writer takes it (checked in `validate()`).
    var pngLevel: PNGCompression { PNGCompression(level: pngCompression)! }

    @OptionGroup var limits: CodingLimitOptions

    func validate() throws {
        guard PNGCompression(level: pngCompression) != nil else { throw ValidationError("--png-compression must be between 0 and 9") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
        if let quality, quality < 1 { throw ValidationError("-q must be at least 1") }
        if outDir == nil {
            guard output != nil else { throw ValidationError("Missing expected argument '<output>' (or give --out-dir)") }
            guard moreInputs.isEmpty else { throw ValidationError("several inputs need --out-dir DIR") }
        }
    }

    func run() throws {
        if let outDir {
            let inputs = [input] + (output.map { [$0] } ?? []) + moreInputs
            let jobList = try Batch.jobs(inputs: inputs, folder: outDir, newExtension: "png")
            do { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) } catch {
                throw fail(FileIOError.cannotCreate(path: outDir, reason: "cannot create the folder"))
            }
            // Each worker keeps the models it has loaded, by path or by the files' model identity.
            try Batch.run(jobList, workers: jobs, makeContext: { ModelCache(explicit: try model.map(loadAnyModel)) }) { job, cache in
                try decode(job.input, to: job.output, models: cache, inputs: inputs,
                           threads: max(1, threads / min(jobs, jobList.count)))
            }
            return
        }
        print(try decode(input, to: output!, models: ModelCache(explicit: try model.map(loadAnyModel)), inputs: [input],
                         threads: threads))
    }

    /// Decodes one file and returns its report line; failures are printed and thrown as exit codes.
    func decode(_ input: String, to output: String, models: ModelCache, inputs: [String], threads: Int) throws -> String {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(input, maxBytes: Int(UInt32.max)) } catch { throw fail(error) }
        let version: UInt16
        do { version = try VQCFormat.version(of: bytes) } catch { throw fail(error, subject: input) }
        if version == ProgressiveVQCHeader.currentVersion {
            return try decodeProgressive(bytes, input: input, to: output, models: models, inputs: inputs, threads: threads)
        }
        if quality != nil { throw fail(CommandError.oneQualityLevel(needs: "-q"), subject: input) }
        let header: VQCHeader
        do { header = try VQCHeader.read(from: bytes, limits: limits.containerLimits) } catch { throw fail(error, subject: input) }
        let codecModel: CodecModel
        do {
            codecModel = try models.model(name: header.modelName, checksum: header.modelChecksum, file: input).oneStage()
        } catch { throw fail(error, subject: input) }
        let options = decodeOptions(threads: threads)
        let start = Date()
        let result: VQCodec.DecodeResult
        do { result = try VQCodec.decode(bytes, model: codecModel, options: options) } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try PNG.write(result.image, to: output, refusingToOverwrite: inputs, compression: pngLevel) } catch { throw fail(error) }
        let line = "\(output): \(header.width) × \(header.height) \(header.colorType == .gray ? "gray" : "RGB"), "
            + "\(format(header.bitsPerPixel, 4)) bpp, \(format(seconds, 2)) s"
        guard result.isComplete else {
            var report = ""
            for damage in result.damagedTiles {
                report += "vqcodec: \(input): tile \(damage.tile) (pixels \(damage.x),\(damage.y), \(damage.width) × "
                    + "\(damage.height)) filled with mid-grey: \(damage.reason)\n"
            }
            report += "vqcodec: \(input): salvaged: \(result.damagedTiles.count) of \(header.tileCount) tiles were "
                + "damaged and filled with mid-grey; \(output) written\n"
            print(line + ", salvaged")
            printError(report)
            throw ExitCode(ExitStatus.salvaged)
        }
        return line
    }
}

extension DecodeCommand {
    /// The library's options from the command's: threads, limits, salvage.
    func decodeOptions(threads: Int) -> VQCodec.DecodeOptions {
        var options = VQCodec.DecodeOptions()
        options.threads = threads
        options.limits = limits.containerLimits
        options.salvage = salvage
        return options
    }

    /// Decodes a version-2 file at `-q` stages (all it holds by default); with --salvage, at its
    /// intact leading stages.
    func decodeProgressive(_ bytes: [UInt8], input: String, to output: String, models: ModelCache, inputs: [String],
                           threads: Int) throws -> String {
        let header: ProgressiveVQCHeader
        do { header = try ProgressiveVQCHeader.read(from: bytes, limits: limits.containerLimits) } catch { throw fail(error, subject: input) }
        if let quality, quality > header.stageCount {
            throw fail(CommandError.fileStagesOutOfRange(requested: quality, available: header.stageCount), subject: input)
        }
        let codecModel: ProgressiveCodecModel
        do {
            codecModel = try models.model(name: header.modelName, checksum: header.modelChecksum, file: input)
                .progressive()
        } catch { throw fail(error, subject: input) }
        let options = decodeOptions(threads: threads)
        let wanted = quality ?? header.stageCount
        let start = Date()
        let result: VQCodec.ProgressiveDecodeResult
        do { result = try VQCodec.decode(bytes, model: codecModel, stages: wanted, options: options) } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try PNG.write(result.image, to: output, refusingToOverwrite: inputs, compression: pngLevel) } catch { throw fail(error) }
        let decoded = result.stagesDecoded
        let bitsPerPixel = 8 * Double(header.fileByteCount(stages: decoded)) / (Double(header.width) * Double(header.height))
        let line = "\(output): \(header.width) × \(header.height) \(header.fields.colorType == .gray ? "gray" : "RGB"), "
            + "\(decoded) of \(header.stageCount) stages, \(format(bitsPerPixel, 4)) bpp, \(format(seconds, 2)) s"
        // Damage after the stages asked for does not matter to this image.
        guard decoded < wanted, let damage = result.damage else { return line }
        print(line + ", salvaged")
        let dropped = decoded + 1 == wanted ? "stage \(wanted)" : "stages \(decoded + 1) to \(wanted)"
        printError("vqcodec: \(input): \(dropped) not decoded: \(damage)\n"
                   + "vqcodec: \(input): salvaged: decoded \(decoded) of \(wanted) stages; \(output) written\n")
        throw ExitCode(ExitStatus.salvaged)
    }
}

/// The models a decode has loaded: the one given with --model, or those found by a file's
/// model identity (see ``ModelLookup``), loaded once each. Used by one thread at a time.
final class ModelCache {
    private let explicit: AnyCodecModel?
    private var found: [String: AnyCodecModel] = [:]

    init(explicit: AnyCodecModel?) { self.explicit = explicit }

    /// The model of a file whose header names `name` and `checksum`.
    func model(name: String, checksum: UInt64, file: String) throws -> FileModel {
        let model: AnyCodecModel
        let key = "\(name)\u{0}\(checksum)"
        if let explicit { model = explicit } else if let known = found[key] { model = known } else {
            model = try ModelLookup.model(name: name, checksum: checksum, given: nil, file: file)
            found[key] = model
        }
        return FileModel(model: model, fileModel: name, fileChecksum: checksum)
    }

    /// A file's model, of the kind its format version needs: a one-stage model for version 1, a
    /// progressive one for version 2; the other kind cannot have written the file (wrong model).
    struct FileModel {
        let model: AnyCodecModel
        let fileModel: String
        let fileChecksum: UInt64

        func oneStage() throws -> CodecModel {
            if case .oneStage(let model) = model { return model }
            throw wrongModel()
        }

        func progressive() throws -> ProgressiveCodecModel {
            if case .progressive(let model) = model { return model }
            throw wrongModel()
        }

        private func wrongModel() -> ContainerError {
            .wrongModel(fileModel: fileModel, fileChecksum: fileChecksum, givenModel: model.name, givenChecksum: model.checksum)
        }
    }
}
