import ArgumentParser
import FileIO
import Foundation
import Images
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

            Many images: vqcodec encode a.png b.png ... --out-dir DIR [--jobs N] writes DIR/a.vqc, \
            DIR/b.vqc, ...; a file that fails is reported and the others go on; the exit status is \
            then that of the first failed file. Images over --max-pixels are refused from their \
            header, before their pixels are read. Memory: about 130 MB, plus 3 bytes per pixel \
            for the image, plus the PNG file while it is read; the transforms run on 512-pixel \
            blocks, so their working set does not grow with the image.
            """)

    @Argument(help: "The PNG image to compress.")
    var input: String

    @Argument(help: "The .vqc file to write (with --out-dir: another PNG image to compress).")
    var output: String?

    @Argument(help: "With --out-dir: more PNG images to compress.")
    var moreInputs: [String] = []

    @Option(name: .long, help: "The model file (.safetensors) to encode with.")
    var model: String

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

    @OptionGroup var limits: CodingLimitOptions

    func validate() throws {
        guard (1...4096).contains(tileSize) else { throw ValidationError("--tile-size must be between 1 and 4096") }
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
            let jobList = try Batch.jobs(inputs: inputs, folder: outDir, newExtension: "vqc")
            do { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) } catch {
                throw fail(FileIOError.cannotCreate(path: outDir, reason: "cannot create the folder"))
            }
            try Batch.run(jobList, workers: jobs, makeContext: { try loadModel(model) }) { job, codecModel in
                try encode(job.input, to: job.output, with: codecModel, inputs: inputs,
                           threads: max(1, threads / min(jobs, jobList.count)))
            }
            return
        }
        print(try encode(input, to: output!, with: loadModel(model), inputs: [input], threads: threads))
    }

    /// Encodes one file and returns its report line; failures are printed and thrown as exit codes.
    func encode(_ input: String, to output: String, with codecModel: CodecModel, inputs: [String], threads: Int) throws -> String {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let image: Image
        do { image = try PNG.read(path: input, limits: limits.imageLimits) } catch { throw fail(error) }
        var options = VQCodec.EncodeOptions()
        options.tileSize = tileSize
        options.threads = threads
        options.reconstruct = psnr
        options.limits = limits.containerLimits
        let start = Date()
        let result: VQCodec.EncodeResult
        do { result = try VQCodec.encode(image, model: codecModel, options: options) } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try AtomicFile.write(result.bytes, to: output, refusingToOverwrite: inputs + [model]) } catch { throw fail(error) }
        let pixels = Double(image.width * image.height)
        var line = "\(output): \(result.bytes.count) bytes, \(format(result.bitsPerPixel, 4)) bpp "
            + "(prior ideal \(format(result.priorBits / pixels, 4)) bpp), \(result.header.tileCount) tiles, "
            + "\(format(seconds, 2)) s"
        if let reconstruction = result.reconstruction {
            let distortion = Distortion(original: image, reconstruction: reconstruction)
            line += ", PSNR \(format(distortion.psnr, 2)) dB (MSE \(format(distortion.meanSquaredError, 2)))"
        }
        return line
    }
}

/// Loads a model file, turning any failure into the CLI's message and exit code.
func loadModel(_ path: String) throws -> CodecModel {
    do { return try CodecModel(path: path) } catch { throw fail(error, subject: path) }
}
