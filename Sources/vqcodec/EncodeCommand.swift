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

            The model is a shipped quality level (`vqcodec models` lists them; without -q, --target-bpp \
            or --model, the default level) or any model file given with --model. --target-bpp picks \
            the highest level whose real file fits the budget, encoding about log2(levels) + 1 times; \
            when none fits it uses the lowest level and says so.
            """)

    @Argument(help: "The PNG image to compress.")
    var input: String

    @Argument(help: "The .vqc file to write.")
    var output: String

    @Option(name: [.customShort("q"), .long], help: "Quality level: 1 (smallest files) to the highest shipped level.")
    var quality: Int?

    @Option(name: .long, help: "Largest bits per pixel allowed: the best quality level whose file fits.")
    var targetBpp: Double?

    @Option(name: .long, help: "A model file (.safetensors) to encode with instead of a shipped level.")
    var model: String?

    @Flag(name: .long, help: "Also report the PSNR of the decoded image (costs a synthesis pass).")
    var psnr = false

    @Option(name: .long, help: "Tile side in latent positions (tiles code in parallel).")
    var tileSize = VQCodec.defaultTileSize

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...4096).contains(tileSize) else { throw ValidationError("--tile-size must be between 1 and 4096") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        let choices = [quality != nil, targetBpp != nil, model != nil].filter { $0 }.count
        guard choices <= 1 else { throw ValidationError("give at most one of -q, --target-bpp and --model") }
        if let targetBpp, !(targetBpp > 0 && targetBpp.isFinite) {
            throw ValidationError("--target-bpp must be a positive number of bits per pixel")
        }
    }

    func run() throws {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let image: Image
        do { image = try PNG.read(path: input) } catch { throw fail(error) }
        var options = VQCodec.EncodeOptions()
        options.tileSize = tileSize
        options.threads = threads
        options.reconstruct = psnr
        let start = Date()
        let result: VQCodec.EncodeResult
        var protected = [input]
        if let targetBpp {
            let catalogue = try shippedLevels()
            let fit: VQCodec.RateFit
            do {
                fit = try VQCodec.encode(image, fitting: targetBpp, levels: catalogue.levels.count, model: { index in
                    try loadModel(catalogue.path(of: catalogue.levels[index]))
                }, options: options)
            } catch let exit as ExitCode { throw exit } catch { throw fail(error, subject: input) }
            result = fit.result
            let tried = fit.tried.sorted { $0.key < $1.key }.map { "q\($0.key + 1) \(format($0.value, 3))" }.joined(separator: ", ")
            if fit.fits {
                print("quality \(fit.level + 1) fits \(format(targetBpp, 3)) bpp (tried \(tried) bpp)")
            } else {
                printError("vqcodec: no quality level fits \(format(targetBpp, 3)) bpp (tried \(tried) bpp); "
                           + "using the lowest, quality 1\n")
            }
        } else {
            let codecModel: CodecModel
            if let model {
                codecModel = try loadModel(model)
                protected.append(model)
            } else {
                let catalogue = try shippedLevels()
                let chosen = quality ?? catalogue.defaultQuality
                guard let level = catalogue.level(chosen) else {
                    throw fail(CodecError.noSuchQuality(chosen, available: catalogue.levels.count))
                }
                codecModel = try loadModel(catalogue.path(of: level))
            }
            do { result = try VQCodec.encode(image, model: codecModel, options: options) } catch { throw fail(error, subject: input) }
        }
        let seconds = Date().timeIntervalSince(start)
        do { try AtomicFile.write(result.bytes, to: output, refusingToOverwrite: protected) } catch { throw fail(error) }
        let pixels = Double(image.width * image.height)
        var line = "\(output): \(result.bytes.count) bytes, \(format(result.bitsPerPixel, 4)) bpp "
            + "(prior ideal \(format(result.priorBits / pixels, 4)) bpp), \(result.header.tileCount) tiles, "
            + "\(format(seconds, 2)) s"
        if let reconstruction = result.reconstruction {
            let distortion = Distortion(original: image, reconstruction: reconstruction)
            line += ", PSNR \(format(distortion.psnr, 2)) dB (MSE \(format(distortion.meanSquaredError, 2)))"
        }
        print(line)
    }
}

/// The shipped quality levels, or the CLI's message and exit code when they cannot be found.
func shippedLevels() throws -> ShippedModels.Catalogue {
    do { return try ShippedModels.levels() } catch { throw fail(error) }
}

/// Loads a model file, turning any failure into the CLI's message and exit code.
func loadModel(_ path: String) throws -> CodecModel {
    do { return try CodecModel(path: path) } catch { throw fail(error, subject: path) }
}
