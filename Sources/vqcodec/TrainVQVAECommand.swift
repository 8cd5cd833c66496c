import ArgumentParser
import Engine
import FileIO
import Foundation
import SafeTensors
import Training
import Transforms

struct TrainVQVAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqvae",
        abstract: "Train the VQ-VAE (phase I): transforms and codebooks, on random crops of a folder of PNGs.",
        discussion: """
            Minimises ‖s − ŝ‖² + 0.25‖L − sg(L̂)‖² with Adam (warm-up, then cosine decay to a tenth of \
            --lr), gradient norm clipped to 1, codebooks by EMA with dead-code restarts. Every \
            --checkpoint-every steps, on Ctrl-C and at the end it writes the model so far to --out (what \
            coding needs, with the recipe in its metadata) and a checkpoint to OUT.ckpt/; --resume \
            continues from there exactly. Progress goes to standard output and, as CSV rows, to OUT.log.csv. \
            Ctrl-C saves a checkpoint and exits with status 130. Build with -c release: debug is many times slower.
            """)

    @OptionGroup var common: TrainingRunOptions

    @Option(help: "Model file to write (safetensors).")
    var out: String

    @Option(help: "Downsampling factor: 8 or 16 (any power of two from 2 to 64).")
    var stride: Int?
    @Option(help: "Channels of the hidden layers.")
    var width: Int?
    @Option(help: "Number of codebooks (product quantisation groups).")
    var groups: Int?
    @Option(help: "Codes per codebook.")
    var codebookSize: Int?
    @Option(help: "Latent channels, a multiple of --groups.")
    var latentChannels: Int?
    @Option(help: "Side of the square crops, a multiple of the stride.")
    var crop: Int?

    @Option(help: ArgumentHelp("Start from this model: its analysis and synthesis weights (same stride, width and latent channels), and its codebooks when the groups and codebook size are the same (otherwise new codebooks, from the first batch).", valueName: "model"))
    var initFrom: String?

    @Flag(help: "Fine-tune the synthesis transform (the decoder) of --init-from only: its analysis transform and codebooks stay exactly as they are, so images map to the same symbols and its prior stays valid (give the output a prior with `train prior --init-from` that model). Better reconstructions at the same rate.")
    var decoderOnly = false


    private var checkpointEvery: Int { common.checkpointEvery ?? 200 }

    func validate() throws {
        if !common.resume, let problem = freshRun().problem { throw ValidationError(problem) }
    }

    /// The run these options describe, defaults filled in.
    func freshRun() -> VQVAETrainingRun {
        let configuration = VQVAEConfiguration(stride: stride ?? 8, width: width ?? 128, latentChannels: latentChannels ?? 64,
                                               groups: groups ?? 4, codebookSize: codebookSize ?? 512)
        return VQVAETrainingRun(configuration: configuration, name: common.name ?? "vqvae", dataFolder: common.dataFolder,
                                steps: common.steps ?? 10_000, batch: common.batch ?? 8, crop: crop ?? 128,
                                learningRate: common.lr ?? 2e-4, warmupSteps: common.warmup, seed: common.seed ?? 1,
                                initialTransforms: initFrom.map(standardisedPath), decoderOnly: decoderOnly,
                                commandLine: CommandLine.arguments.joined(separator: " "))
    }

    func run() throws {
        try messages.checkOutput(out, data: common.data)
        let checkpoint = CheckpointFolder(forOutput: out)
        if !common.resume && checkpoint.exists {
            throw usage("\(checkpoint.path) holds a checkpoint of an earlier run; pass --resume to continue it, or delete it to start afresh")
        }

        let trainer: VQVAETrainer
        if common.resume {
            do { trainer = try VQVAETrainer(resumingFrom: checkpoint) } catch { throw failure(error, ExitStatus.invalidInput) }
            try checkResumeOptions(trainer.run)
        } else {
            trainer = VQVAETrainer(run: freshRun())
            if let initFrom {
                let source: VQVAE
                do { source = try VQVAE(file: SafeTensorsFile(contentsOf: initFrom)) } catch {
                    throw failure("\(initFrom): \(error)", ExitStatus.invalidInput)
                }
                do { try trainer.startTransforms(from: source) } catch { throw usage(error.description) }
            }
        }
        let run = trainer.run

        say("loading \(run.dataFolder) …")
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: run.dataFolder) } catch {
            if case .noImages = error { throw failure(error, ExitStatus.invalidInput) }
            throw failure(error, ExitStatus.inputMissing)
        }
        for file in dataset.skipped { printError("vqcodec: skipping \(file.reason)\n") }
        let c = run.configuration
        say("\(dataset.count) images, \(format(Double(dataset.pixelCount) / 1e6, 1)) Mpixels; model stride \(c.stride), width \(c.width), "
              + "latent \(c.latentChannels) = \(c.groups) × \(c.dimension), K = \(c.codebookSize), "
              + "\(trainer.model.parameters.reduce(0) { $0 + $1.value.count }) parameters; batch \(run.batch) × \(run.crop)², "
              + "lr \(run.learningRate) (warm-up \(run.warmupSteps)), seed \(run.seed)"
              + (trainer.step > 0 ? "; resuming at step \(trainer.step)" : ""))

        let progress: TrainingProgress
        do {
            progress = try TrainingProgress(totalSteps: run.steps, firstStep: trainer.step,
                                            elapsedSeconds: trainer.elapsedBefore, csvPath: out + ".log.csv")
        } catch { throw failure(error, ExitStatus.cannotWrite) }

        installTrainingInterruptHandlers()
        let outcome: VQVAETrainer.Outcome
        do {
            outcome = try trainer.train(dataset: dataset, output: out, checkpointEvery: checkpointEvery,
                                        logEvery: common.logEvery, progress: progress,
                                        shouldStop: { trainingInterrupted })
        } catch {
            progress.closeLine()
            if case .diverged = error { throw failure(error, ExitStatus.internalError) }
            throw failure(error, ExitStatus.cannotWrite)
        }
        switch outcome {
        case .finished:
            say("wrote \(out) after \(trainer.step) steps (checkpoint in \(checkpoint.path), log in \(out).log.csv)")
        case .interrupted:
            throw ExitCode(130)
        }
    }

    /// With --resume the checkpoint's settings apply: an option given with another value is an error.
    private func checkResumeOptions(_ run: VQVAETrainingRun) throws {
        let c = run.configuration
        let checks = common.resumeChecks(steps: run.steps, batch: run.batch, learningRate: run.learningRate,
                                         warmupSteps: run.warmupSteps, seed: run.seed) + [
            ("--stride", stride.map(String.init), String(c.stride)), ("--width", width.map(String.init), String(c.width)),
            ("--groups", groups.map(String.init), String(c.groups)),
            ("--codebook-size", codebookSize.map(String.init), String(c.codebookSize)),
            ("--latent-channels", latentChannels.map(String.init), String(c.latentChannels)),
            ("--crop", crop.map(String.init), String(run.crop)), ("--name", common.name, run.name),
            ("--init-from", initFrom.map(standardisedPath), run.initialTransforms.map(standardisedPath) ?? "(none)"),
            ("--decoder-only", decoderOnly ? "given" : nil, run.decoderOnly == true ? "given" : "not given"),
        ]
        try common.checkResumed(checks, savedData: run.dataFolder, messages: messages)
    }

    private var messages: TrainingMessages { TrainingMessages(command: "train vqvae") }
    private func say(_ line: String) { messages.say(line) }
    private func usage(_ message: String) -> ExitCode { messages.usage(message) }
    private func failure(_ error: Any, _ status: Int32) -> ExitCode { messages.failure(error, status) }
}
