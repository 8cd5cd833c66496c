import ArgumentParser

@main
struct VQCodecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqcodec",
        abstract: "A learned image codec: VQ-VAE transforms, a PixelCNN prior and a range coder.",
        subcommands: [])
}
