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
            then that of the first failed file. Memory: about 130 MB, plus 3 bytes per pixel for \
            the image, plus the .vqc and PNG files; the synthesis runs on 512-pixel blocks, so \
            its working set does not grow with the image.
            """)

    @Argument(help: "The .vqc file to decode.")
    var input: String

    @Argument(help: "The PNG image to write (with --out-dir: another .vqc file to decode).")
    var output: String?

    @Argument(help: "With --out-dir: more .vqc files to decode.")
    var moreInputs: [String] = []

    @Option(name: .long, help: "The model file (.safetensors) the image was encoded with.")
    var model: String?

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .long, help: "Fill damaged or missing tiles with mid-grey instead of failing (exit status 74).")
    var salvage = false

    @Option(name: .long, help: ArgumentHelp("Write each input's PNG into this folder (created if missing); allows many inputs.", valueName: "folder"))
    var outDir: String?

    @Option(name: .long, help: "With --out-dir: files decoded at once (each job loads its own copy of the model).")
    var jobs = 1

    @OptionGroup var limits: CodingLimitOptions

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
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
            try Batch.run(jobList, workers: jobs, makeContext: { ModelCache(explicit: try model.map(loadModel)) }) { job, cache in
                try decode(job.input, to: job.output, models: cache, inputs: inputs,
                           threads: max(1, threads / min(jobs, jobList.count)))
            }
            return
        }
        print(try decode(input, to: output!, models: ModelCache(explicit: try model.map(loadModel)), inputs: [input],
                         threads: threads))
    }

    /// Decodes one file and returns its report line; failures are printed and thrown as exit codes.
    func decode(_ input: String, to output: String, models: ModelCache, inputs: [String], threads: Int) throws -> String {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(input, maxBytes: Int(UInt32.max)) } catch { throw fail(error) }
        let header: VQCHeader
        do { header = try VQCHeader.read(from: bytes, limits: limits.containerLimits) } catch { throw fail(error, subject: input) }
        let codecModel: CodecModel
        do { codecModel = try models.model(for: header, file: input) } catch { throw fail(error, subject: input) }
        var options = VQCodec.DecodeOptions()
        options.threads = threads
        options.limits = limits.containerLimits
        options.salvage = salvage
        let start = Date()
        let result: VQCodec.DecodeResult
        do { result = try VQCodec.decode(bytes, model: codecModel, options: options) } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try PNG.write(result.image, to: output, refusingToOverwrite: inputs) } catch { throw fail(error) }
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

/// The models a decode has loaded: the one given with --model, or those found by a file's
/// model identity (see ``ModelLookup``), loaded once each. Used by one thread at a time.
final class ModelCache {
    private let explicit: CodecModel?
    private var found: [String: CodecModel] = [:]

    init(explicit: CodecModel?) { self.explicit = explicit }

    func model(for header: VQCHeader, file: String) throws -> CodecModel {
        if let explicit { return explicit }
        let key = "\(header.modelName)\u{0}\(header.modelChecksum)"
        if let model = found[key] { return model }
        let model = try ModelLookup.model(for: header, given: nil, file: file)
        found[key] = model
        return model
    }
}
