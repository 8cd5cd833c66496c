import ArgumentParser

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model: first the VQ-VAE (phase I), then its PixelCNN prior (phase II).",
        discussion: """
            vqcodec train vqvae --data DIR --out M.safetensors     # phase I: transforms and codebooks
            vqcodec train prior --model M.safetensors --data DIR   # phase II: the prior, frozen to integers
            """,
        subcommands: [TrainVQVAECommand.self, TrainPriorCommand.self])
}
