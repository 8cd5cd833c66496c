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
            """)

    @Argument(help: "The PNG image to compress.")
    var input: String

    @Argument(help: "The .vqc file to write.")
    var output: String

    @Option(name: .long, help: "The model file (.safetensors) to encode with.")
    var model: String

    @Flag(name: .long, help: "Also report the PSNR of the decoded image (costs a synthesis pass).")
    var psnr = false

    @Option(name: .long, help: "Tile side in latent positions (tiles code in parallel).")
    var tileSize = VQCodec.defaultTileSize

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...4096).contains(tileSize) else { throw ValidationError("--tile-size must be between 1 and 4096") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let codecModel = try loadModel(model)
        let image: Image
        do { image = try PNG.read(path: input) } catch { throw fail(error) }
        var options = VQCodec.EncodeOptions()
        options.tileSize = tileSize
        options.threads = threads
        options.reconstruct = psnr
        let start = Date()
        let result: VQCodec.EncodeResult
        do { result = try VQCodec.encode(image, model: codecModel, options: options) } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try AtomicFile.write(result.bytes, to: output, refusingToOverwrite: [input, model]) } catch { throw fail(error) }
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

/// Loads a model file, turning any failure into the CLI's message and exit code.
func loadModel(_ path: String) throws -> CodecModel {
    do { return try CodecModel(path: path) } catch { throw fail(error, subject: path) }
}
