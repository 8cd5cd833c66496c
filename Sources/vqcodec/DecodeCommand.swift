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
            $VQCODEC_MODEL_PATH (colon-separated folders) and of the .vqc file's folder. The output is written atomically.
            """)

    @Argument(help: "The .vqc file to decode.")
    var input: String

    @Argument(help: "The PNG image to write.")
    var output: String

    @Option(name: .long, help: "The model file (.safetensors) the image was encoded with.")
    var model: String?

    @Option(name: .long, help: "Threads for the tiles (the result does not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(input, maxBytes: Int(UInt32.max)) } catch { throw fail(error) }
        let header: VQCHeader
        do { header = try VQCHeader.read(from: bytes) } catch { throw fail(error, subject: input) }
        let codecModel: CodecModel
        if let model {
            codecModel = try loadModel(model)
        } else {
            do { codecModel = try ModelLookup.model(for: header, given: nil, file: input) } catch { throw fail(error, subject: input) }
        }
        let start = Date()
        let result: VQCodec.DecodeResult
        do { result = try VQCodec.decode(bytes, model: codecModel, threads: threads) } catch { throw fail(error, subject: input) }
        let seconds = Date().timeIntervalSince(start)
        do { try PNG.write(result.image, to: output, refusingToOverwrite: [input]) } catch { throw fail(error) }
        print("\(output): \(header.width) × \(header.height) \(header.colorType == .gray ? "gray" : "RGB"), "
              + "\(format(header.bitsPerPixel, 4)) bpp, \(format(seconds, 2)) s")
    }
}
