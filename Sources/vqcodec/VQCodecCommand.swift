import ArgumentParser
import Engine
import FileIO
import VQCodec

@main
struct VQCodecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqcodec",
        abstract: "A learned image codec: VQ-VAE transforms, a PixelCNN prior and a range coder.",
        discussion: "Exit codes are listed in the README (0 success, 64 usage, 65–73 input and output problems).",
        version: VQCodec.version,
        subcommands: [EncodeCommand.self, DecodeCommand.self, TruncateCommand.self, InfoCommand.self, InspectCommand.self, CodebookCommand.self, ModelsCommand.self, EvalCommand.self, RDCommand.self, TrainCommand.self, FreezeCommand.self, BenchCommand.self])

    static func main() {
        AtomicFile.installInterruptCleanup()
        useSingleThreadedBLAS()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
