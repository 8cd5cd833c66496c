import ArgumentParser

// Local registration by helper V to run `vqcodec train vqvae`; the main session owns this file.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the codec's models.",
        subcommands: [TrainVQVAECommand.self])
}
