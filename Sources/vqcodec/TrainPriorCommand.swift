import ArgumentParser
import Engine
import FileIO
import Foundation
import IntegerPrior
import Prior
import SafeTensors
import Training
import Transforms

struct TrainPriorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prior",
        abstract: "Train the PixelCNN prior (phase II) on the symbols a trained VQ-VAE gives a folder of PNGs.",
        discussion: """
            Encodes every image of --data with the VQ-VAE of --model (whole images, padded to the \
            stride), holds out every --hold-out-every-th image, and minimises the cross-entropy of random \
            --crop × --crop crops of the symbol maps with Adam (warm-up, then cosine decay to a tenth of \
            --lr), gradient norm clipped to 1. Every --checkpoint-every steps, on Ctrl-C and at the end it \
            writes the model file (--out, by default --model itself, replaced atomically): the VQ-VAE with \
            the float prior, the integer prior frozen from it, and the recipe; and a checkpoint to \
            OUT.prior.ckpt/, from which --resume continues exactly. At the end it reports the held-out rate \
            of the float and the integer prior. Progress goes to standard output and, as CSV rows, to \
            OUT.prior.log.csv. Ctrl-C saves a checkpoint and exits with status 130. Build with -c release.
            """)

    @OptionGroup var common: TrainingRunOptions

    @Option(help: "Model file holding the trained VQ-VAE (safetensors); --data is encoded with it.")
    var model: String


    @Option(help: "Model file to write (default: --model, updated in place).")
    var out: String?

    @Option(help: "Side of the square crops, in latent positions.")
    var crop: Int?
    @Option(help: "Channels of each stack of the gated blocks (a multiple of the groups).")
    var channels: Int?
    @Option(help: "Gated PixelCNN blocks.")
    var blocks: Int?
    @Option(help: "Embedding dimensions per group.")
    var embedding: Int?
    @Option(help: "Kernel size of the gated blocks (odd).")
    var kernel: Int?
    @Option(help: "Channels of the head's hidden layer (a multiple of the groups).")
    var head: Int?
    @Option(help: "Hold out every n-th image for evaluation (0: none).")
    var holdOutEvery: Int?
    @Option(name: .customLong("init-from"), help: ArgumentHelp(
        "Start from this model file's float prior (same groups, codebook size and prior shape; the shape options default to its).",
        discussion: "For training a model's prior further: --model and M0 hold the same VQ-VAE, so every code means the same to both. A VQ-VAE continued with train vqvae --init-from keeps its codes' indices only for a while (measured: 30 to 40 % of codes after 3,500 more steps, 1 % after 30,000); then a fresh prior does as well.",
        valueName: "model"))
    var initFrom: String?


    @Flag(help: "Also train on each training image mirrored and shifted by half the stride (8 maps per image; held-out images are not augmented): more data for a prior that overfits, as stride-16 priors do.")
    var augment = false

    @Option(help: "Steps between held-out evaluations (default: --checkpoint-every).")
    var evaluateEvery: Int?

    private var output: String { out ?? model }

    private var checkpointEvery: Int { common.checkpointEvery ?? 500 }

    func validate() throws {
        if let evaluateEvery, evaluateEvery < 1 { throw ValidationError("--evaluate-every must be at least 1") }
    }

    func run() throws {
        try messages.checkOutput(output, data: common.data)
        let base: SafeTensorsFile
        do { base = try SafeTensorsFile(contentsOf: model) } catch { throw failure(error, ExitStatus.code(for: error)) }
        let vqvae: VQVAE
        do { vqvae = try VQVAE(file: base) } catch { throw failure("\(model): \(error)", ExitStatus.invalidInput) }
        let checksum = PriorTrainer.vqvaeChecksum(base)

        let checkpoint = PriorTrainer.checkpointFolder(forOutput: output)
        if !common.resume && checkpoint.exists {
            throw usage("\(checkpoint.path) holds a checkpoint of an earlier run; pass --resume to continue it, or delete it to start afresh")
        }
        let trainer: PriorTrainer
        if common.resume {
            do { trainer = try PriorTrainer(resumingFrom: checkpoint) } catch { throw failure(error, ExitStatus.invalidInput) }
            try checkResumeOptions(trainer.run)
            guard trainer.run.vqvaeChecksum == checksum else {
                throw usage("the VQ-VAE in \(model) differs from the one the checkpoint's run started with; its symbols would mean something else")
            }
        } else {
            var source: PixelCNNPrior?
            if let initFrom {
                do { source = try PixelCNNPrior(file: SafeTensorsFile(contentsOf: initFrom)) } catch {
                    throw failure("\(initFrom): \(error)", ExitStatus.invalidInput)
                }
            }
            let c = vqvae.configuration
            let shape = source?.configuration
            let configuration = PriorConfiguration(groups: c.groups, codebookSize: c.codebookSize,
                                                   embeddingDimension: embedding ?? shape?.embeddingDimension ?? 16,
                                                   channels: channels ?? shape?.channels ?? 64, blocks: blocks ?? shape?.blocks ?? 4,
                                                   kernelSize: kernel ?? shape?.kernelSize ?? 3,
                                                   headChannels: head ?? shape?.headChannels ?? 128)
            let run = PriorTrainingRun(
                configuration: configuration, modelPath: standardisedPath(model),
                vqvaeChecksum: checksum, dataFolder: common.dataFolder,
                steps: common.steps ?? 5000, batch: common.batch ?? 16, crop: crop ?? 16, learningRate: common.lr ?? 1e-3,
                warmupSteps: common.warmup, holdOutEvery: holdOutEvery ?? 10, seed: common.seed ?? 1,
                initialPrior: initFrom.map(standardisedPath), name: common.name,
                augmentation: augment ? .mirrorAndShift : nil, commandLine: CommandLine.arguments.joined(separator: " "))
            if let problem = run.problem { throw usage(problem) }
            trainer = PriorTrainer(run: run)
            if let source {
                do { try trainer.startPrior(from: source) } catch { throw usage("--init-from \(initFrom ?? ""): \(error)") }
            }
        }
        let run = trainer.run

        say("loading \(run.dataFolder) …")
        let images: ImageDataset
        do { images = try ImageDataset(folder: run.dataFolder) } catch {
            if case .noImages = error { throw failure(error, ExitStatus.invalidInput) }
            throw failure(error, ExitStatus.inputMissing)
        }
        for file in images.skipped { printError("vqcodec: skipping \(file.reason)\n") }
        let dataset = SymbolDataset(images: images, model: vqvae, holdOutEvery: run.holdOutEvery,
                                    augmentation: run.augmentation ?? .none) { done, total in
            if isatty(STDOUT_FILENO) != 0 { print("\rencoding images with the VQ-VAE: \(done)/\(total)", terminator: "") }
        }
        if isatty(STDOUT_FILENO) != 0 { print("") }
        if run.crop > dataset.largestCrop {
            say("note: the smallest training map has \(dataset.largestCrop) positions on a side; crops are \(dataset.largestCrop), not \(run.crop)")
        }
        let c = run.configuration
        say("\(dataset.training.count) training maps (\(dataset.trainingSymbolCount) symbols), \(dataset.heldOut.count) held out; "
              + "prior \(c.summary), \(trainer.prior.parameters.reduce(0) { $0 + $1.value.count }) parameters; "
              + "batch \(run.batch) × \(run.crop)², lr \(run.learningRate) (warm-up \(run.warmupSteps)), seed \(run.seed)"
              + (trainer.step > 0 ? "; resuming at step \(trainer.step)" : ""))

        let progress: TrainingProgress
        do {
            progress = try TrainingProgress(totalSteps: run.steps, firstStep: trainer.step,
                                            elapsedSeconds: trainer.elapsedBefore, csvPath: output + ".prior.log.csv")
        } catch { throw failure(error, ExitStatus.cannotWrite) }

        installTrainingInterruptHandlers()
        let outcome: PriorTrainer.Outcome
        do {
            outcome = try trainer.train(dataset: dataset, base: base, output: output, protectedPaths: images.paths,
                                        checkpointEvery: checkpointEvery, logEvery: common.logEvery,
                                        evaluateEvery: evaluateEvery ?? checkpointEvery, progress: progress,
                                        shouldStop: { trainingInterrupted })
        } catch {
            progress.closeLine()
            if case .diverged = error { throw failure(error, ExitStatus.internalError) }
            throw failure(error, ExitStatus.cannotWrite)
        }
        switch outcome {
        case .finished:
            say("wrote \(output) after \(trainer.step) steps (checkpoint in \(checkpoint.path), log in \(output).prior.log.csv)")
        case .interrupted:
            throw ExitCode(130)
        }
    }

    /// With --resume the checkpoint's settings apply: an option given with another value is an error.
    private func checkResumeOptions(_ run: PriorTrainingRun) throws {
        let c = run.configuration
        let checks = common.resumeChecks(steps: run.steps, batch: run.batch, learningRate: run.learningRate,
                                         warmupSteps: run.warmupSteps, seed: run.seed) + [
            ("--crop", crop.map(String.init), String(run.crop)),
            ("--channels", channels.map(String.init), String(c.channels)), ("--blocks", blocks.map(String.init), String(c.blocks)),
            ("--embedding", embedding.map(String.init), String(c.embeddingDimension)),
            ("--kernel", kernel.map(String.init), String(c.kernelSize)), ("--head", head.map(String.init), String(c.headChannels)),
            ("--hold-out-every", holdOutEvery.map(String.init), String(run.holdOutEvery)),
            ("--init-from", initFrom.map(standardisedPath), run.initialPrior.map(standardisedPath) ?? "(none)"),
            ("--name", common.name, run.name ?? "(the model's)"),
            ("--augment", augment ? "given" : nil, run.augmentation == nil ? "not given" : "given"),
        ]
        try common.checkResumed(checks, savedData: run.dataFolder, messages: messages)
    }

    private var messages: TrainingMessages { TrainingMessages(command: "train prior") }
    private func say(_ line: String) { messages.say(line) }
    private func usage(_ message: String) -> ExitCode { messages.usage(message) }
    private func failure(_ error: Any, _ status: Int32) -> ExitCode { messages.failure(error, status) }
}
