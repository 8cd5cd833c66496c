import Engine
import FileIO
import Foundation
import Quantizer
import SafeTensors
import SeededRandom
import Transforms

/// Everything that defines a phase-I VQ-VAE training run. Saved in every checkpoint and, as the
/// recipe, in the model file, so a run can be resumed and a model reproduced.
public struct VQVAETrainingRun: Codable, Sendable, Equatable {
    public var configuration: VQVAEConfiguration
    public var name: String
    public var dataFolder: String
    public var steps: Int
    public var batch: Int
    public var crop: Int
    /// Peak learning rate of Adam, reached after `warmupSteps`, then half a cosine down to a tenth.
    public var learningRate: Float
    public var warmupSteps: Int
    /// The global gradient norm is clipped to this before each update (docs/design.md §6).
    public var clipNorm: Float
    /// Seeds the weights, the crops and the quantiser's restarts.
    public var seed: UInt64
    /// The model file whose analysis and synthesis weights the run started from (a warm start,
    /// ``VQVAETrainer/startTransforms(from:)``); nil when they started from `seed`.
    public var initialTransforms: String?
    /// True: train the synthesis transform only (``VQVAE/trainSynthesisStep(images:)``); the
    /// analysis transform and the codebooks stay those of `initialTransforms`, so its symbols and
    /// its prior stay valid. Nil otherwise (and in checkpoints written before the option existed).
    public var decoderOnly: Bool?
    public var commandLine: String

    public init(configuration: VQVAEConfiguration, name: String = "vqvae", dataFolder: String, steps: Int,
                batch: Int = 8, crop: Int = 128, learningRate: Float = 2e-4, warmupSteps: Int? = nil,
                clipNorm: Float = 1, seed: UInt64 = 1, initialTransforms: String? = nil, decoderOnly: Bool = false,
                commandLine: String = "") {
        self.configuration = configuration
        self.name = name
        self.dataFolder = dataFolder
        self.steps = steps
        self.batch = batch
        self.crop = crop
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps ?? min(500, steps / 10)
        self.clipNorm = clipNorm
        self.seed = seed
        self.initialTransforms = initialTransforms
        self.decoderOnly = decoderOnly ? true : nil
        self.commandLine = commandLine
    }

    /// Why these settings cannot train, or nil.
    public var problem: String? {
        if let problem = configuration.problem { return problem }
        if steps < 1 { return "steps must be at least 1, found \(steps)" }
        if batch < 1 || batch > 1024 { return "batch must be 1 to 1024, found \(batch)" }
        if crop < configuration.stride || crop % configuration.stride != 0 || crop > 4096 {
            return "crop must be a multiple of the stride \(configuration.stride) up to 4096, found \(crop)"
        }
        if !(learningRate > 0 && learningRate < 1) { return "learning rate must be between 0 and 1, found \(learningRate)" }
        if warmupSteps < 0 || warmupSteps > steps { return "warm-up must be 0 to \(steps) steps, found \(warmupSteps)" }
        if !(clipNorm > 0) { return "gradient clip norm must be positive, found \(clipNorm)" }
        if !VQVAE.isValidName(name) { return "name must be 1 to 64 printable ASCII characters, found \"\(name)\"" }
        if decoderOnly == true && initialTransforms == nil {
            return "a decoder-only run fine-tunes a trained model: it needs the model to start from (--init-from)"
        }
        return nil
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(peak: learningRate, floor: learningRate / 10, warmupSteps: warmupSteps,
                             decay: .cosine(totalSteps: steps))
    }
}

/// Phase-I training of a ``VQVAE``: random crops, Adam with warm-up and cosine decay, gradient
/// norm clipping, EMA codebooks, checkpoints that resume exactly.
///
/// Randomness is a function of (seed, step): the crops of step t come from a SplitMix64 seeded
/// with a hash of (seed, t, 1), the quantiser's restarts from (seed, t, 2). A checkpoint therefore
/// needs only the step to continue the same random streams, and a resumed run computes the same
/// updates the uninterrupted run would have.
public final class VQVAETrainer {
    public let run: VQVAETrainingRun
    public let model: VQVAE
    public let optimizer: Adam
    /// Steps done.
    public private(set) var step: Int
    /// Training seconds spent before this process (a resumed run).
    public let elapsedBefore: Double
    private var window: MetricsWindow
    private var update = GuardedUpdate()

    /// A new run.
    public init(run: VQVAETrainingRun) {
        if let problem = run.problem { preconditionFailure("invalid training run: \(problem)") }
        self.run = run
        model = VQVAE(configuration: run.configuration, seed: run.seed, name: run.name)
        optimizer = Adam(parameters: Self.trainedParameters(of: model, run: run), learningRate: run.learningRate)
        step = 0
        elapsedBefore = 0
        window = MetricsWindow(run: run)
    }

    /// Resumes the run saved in `checkpoint`.
    public init(resumingFrom checkpoint: CheckpointFolder) throws(VQVAETrainingError) {
        let contents: CheckpointFolder.Contents<VQVAETrainingRun>
        do { contents = try checkpoint.load(as: VQVAETrainingRun.self) } catch { throw .checkpoint(error) }
        if let problem = contents.run.problem { throw .invalidRun(problem) }
        guard let modelFile = contents.files["model"], let optimizerFile = contents.files["optimizer"] else {
            throw .checkpoint(.invalidManifest(checkpoint.path, reason: "it must name a model and an optimizer file"))
        }
        let model: VQVAE
        do { model = try VQVAE(file: modelFile) } catch { throw .model(error) }
        guard model.configuration == contents.run.configuration else {
            throw .checkpoint(.invalidManifest(checkpoint.path, reason: "the model's configuration differs from the run's"))
        }
        model.name = contents.run.name
        run = contents.run
        self.model = model
        optimizer = Adam(parameters: Self.trainedParameters(of: model, run: run), learningRate: run.learningRate)
        do { try optimizer.restore(from: optimizerFile) } catch { throw .checkpoint(.file(error)) }
        step = contents.step
        elapsedBefore = contents.elapsedSeconds
        window = MetricsWindow(run: run)
    }

    /// The parameters the optimiser updates: all, or the synthesis's in a decoder-only run.
    static func trainedParameters(of model: VQVAE, run: VQVAETrainingRun) -> [Parameter] {
        run.decoderOnly == true ? model.synthesisParameters : model.parameters
    }

    /// Warm start: copies the analysis and synthesis weights of `source` (a model of the same
    /// stride, width and latent channels; its groups and codebook size may differ) into the new
    /// model, before the first step. When the groups and codebook size differ the codebooks start
    /// from the first batch, so a trained transform pair is re-quantised at another rate far faster
    /// than training from scratch; when they match, the codebooks are continued too, so the run
    /// continues training the source model.
    public func startTransforms(from source: VQVAE) throws(VQVAETrainingError) {
        precondition(step == 0, "a warm start replaces the weights before the first step")
        let (mine, theirs) = (run.configuration, source.configuration)
        guard mine.stride == theirs.stride, mine.width == theirs.width, mine.latentChannels == theirs.latentChannels else {
            throw .invalidRun("the warm-start model has stride \(theirs.stride), width \(theirs.width) and "
                + "\(theirs.latentChannels) latent channels; this run needs \(mine.stride), \(mine.width) and \(mine.latentChannels)")
        }
        for (target, value) in zip(model.parameters, source.parameters) {
            precondition(target.name == value.name && target.value.shape == value.value.shape, "same configuration, same parameters")
            target.value = value.value
        }
        let sameCodebooks = mine.groups == theirs.groups && mine.codebookSize == theirs.codebookSize && source.isInitialised
        if run.decoderOnly == true && !sameCodebooks {
            throw .invalidRun("a decoder-only run keeps the codebooks of the model it starts from; that model has "
                + "\(theirs.groups) × \(theirs.codebookSize) codes\(source.isInitialised ? "" : " (untrained)"), "
                + "this run needs \(mine.groups) × \(mine.codebookSize)")
        }
        if sameCodebooks { model.adoptCodebooks(of: source) }
    }

    /// What one step did.
    public struct StepResult: Sendable {
        public var report: VQVAEStepReport
        public var learningRate: Float
        /// Global gradient norm before clipping.
        public var gradientNorm: Float
        /// False when the update was skipped because something was not finite.
        public var updated: Bool
    }

    /// Takes one training step on a batch drawn from `dataset`.
    @discardableResult
    public func trainStep(dataset: ImageDataset) throws(VQVAETrainingError) -> StepResult {
        precondition(step < run.steps, "the run is complete")
        var generator = SplitMix64(seed: Self.streamSeed(run.seed, step: step, stream: 1))
        let images = dataset.batch(size: run.batch, crop: run.crop, using: &generator)
        for parameter in optimizer.parameters { parameter.zeroGradient() }
        let report = run.decoderOnly == true
            ? model.trainSynthesisStep(images: images)
            : model.trainStep(images: images, randomSeed: Self.streamSeed(run.seed, step: step, stream: 2))
        let outcome = update.apply(to: optimizer, schedule: run.schedule, clipNorm: run.clipNorm, step: step,
                                   lossIsFinite: report.mse.isFinite && report.commitmentLoss.isFinite)
        if outcome.diverged { throw .diverged(step: step) }
        step += 1
        let result = StepResult(report: report, learningRate: outcome.learningRate, gradientNorm: outcome.gradientNorm,
                                updated: outcome.updated)
        window.add(result)
        return result
    }

    public typealias Outcome = TrainingOutcome

    /// Trains until `run.steps` (``TrainingLoop``), reporting every `logEvery` steps and saving a
    /// checkpoint (and the model file so far) every `checkpointEvery` steps, when `shouldStop`
    /// says so, and at the end.
    ///
    /// - Parameter output: the model file; it is rewritten at each checkpoint with the model so far
    ///   (only what coding needs, plus metadata), and the checkpoint goes to `output.ckpt/`.
    public func train(dataset: ImageDataset, output: String, checkpointEvery: Int, logEvery: Int,
                      progress: TrainingProgress, shouldStop: () -> Bool) throws(VQVAETrainingError) -> Outcome {
        let checkpoint = CheckpointFolder(forOutput: output)
        let loop = TrainingLoop(checkpointEvery: checkpointEvery, logEvery: logEvery, progress: progress,
                                checkpointPath: checkpoint.path)
        let save = { () throws(VQVAETrainingError) in
            try self.save(output: output, checkpoint: checkpoint, progress: progress, dataset: dataset)
        }
        let outcome = try loop.run(
            steps: run.steps, step: { step }, shouldStop: shouldStop,
            trainStep: { () throws(VQVAETrainingError) in try trainStep(dataset: dataset) },
            report: { _ in
                defer { window.reset() }
                return window.fields()
            },
            save: save)
        guard outcome == .finished else { return outcome }
        try save()
        progress.closeLine()
        return .finished
    }

    /// Writes the checkpoint, then the model file.
    public func save(output: String, checkpoint: CheckpointFolder, progress: TrainingProgress,
                     dataset: ImageDataset) throws(VQVAETrainingError) {
        let elapsed = elapsedBefore + progress.sessionSeconds
        let modelState = SafeTensorsFile(metadata: model.metadata,
                                         tensors: model.storedTensors(dtype: .f32, includeTrainingState: true))
        do {
            try checkpoint.save(step: step, elapsedSeconds: elapsed, run: run,
                                files: ["model": modelState, "optimizer": optimizer.state()])
        } catch { throw .checkpoint(error) }
        let file = modelFile(elapsedSeconds: elapsed)
        do { try AtomicFile.write(file.serialized(), to: output, refusingToOverwrite: dataset.paths) } catch {
            throw .output(error)
        }
    }

    /// The model file: the VQ-VAE's coding tensors and metadata, plus `vqvae.recipe` (how it was
    /// trained, JSON) and `vqvae.metrics` (training metrics of the last logging window, JSON).
    public func modelFile(elapsedSeconds: Double) -> SafeTensorsFile {
        var metadata = model.metadata
        let recipe = Recipe(commandLine: run.commandLine, dataFolder: run.dataFolder, seed: run.seed, steps: step,
                            plannedSteps: run.steps, batch: run.batch, crop: run.crop, learningRate: run.learningRate,
                            warmupSteps: run.warmupSteps, clipNorm: run.clipNorm, initialTransforms: run.initialTransforms,
                            decoderOnly: run.decoderOnly,
                            wallSeconds: (elapsedSeconds * 10).rounded() / 10,
                            date: ISO8601DateFormatter().string(from: Date()))
        metadata[Self.recipeKey] = Self.json(recipe)
        if let metrics = window.lastMetrics { metadata[Self.metricsKey] = Self.json(metrics) }
        return SafeTensorsFile(metadata: metadata, tensors: model.storedTensors(dtype: .f32, includeTrainingState: false))
    }

    public static let recipeKey = "vqvae.recipe"
    public static let metricsKey = "vqvae.metrics"

    struct Recipe: Codable {
        var commandLine: String
        var dataFolder: String
        var seed: UInt64
        var steps: Int
        var plannedSteps: Int
        var batch: Int
        var crop: Int
        var learningRate: Float
        var warmupSteps: Int
        var clipNorm: Float
        /// The model whose weights the run started from (absent: fresh weights).
        var initialTransforms: String?
        /// True when only the synthesis was trained (absent otherwise).
        var decoderOnly: Bool?
        var wallSeconds: Double
        var date: String
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    /// A seed for random stream `stream` of step `step`: SplitMix64's output function applied to
    /// a mix of the three, so neighbouring steps get unrelated streams.
    static func streamSeed(_ seed: UInt64, step: Int, stream: UInt64) -> UInt64 {
        var generator = SplitMix64(seed: seed ^ (UInt64(step) &* 0xD1B5_4A32_D192_ED03) ^ (stream &* 0x8CB9_2BA7_2F3D_8DD7))
        return generator.next()
    }
}

/// Metrics summed over the steps since the last report.
struct MetricsWindow {
    let groups: Int
    let codebookSize: Int
    /// Latent positions per image (h·w).
    let plane: Int
    private var steps = 0
    private var mse: Double = 0
    private var commitment: Double = 0
    private var gradientNorm: Double = 0
    private var skipped = 0
    private var learningRate: Float = 0
    private var counts: [[Int]]
    /// The averages of the last completed window.
    private(set) var lastMetrics: Metrics?

    struct Metrics: Codable {
        var mse: Double
        var psnr: Double
        var commitment: Double
        var codesUsed: [Int]
        var perplexity: [Double]
    }

    init(groups: Int, codebookSize: Int, plane: Int) {
        self.groups = groups
        self.codebookSize = codebookSize
        self.plane = plane
        counts = [[Int]](repeating: [Int](repeating: 0, count: codebookSize), count: groups)
    }

    mutating func add(_ result: VQVAETrainer.StepResult) {
        steps += 1
        if result.updated {
            mse += Double(result.report.mse)
            commitment += Double(result.report.commitmentLoss)
            gradientNorm += Double(result.gradientNorm)
        } else {
            skipped += 1
        }
        learningRate = result.learningRate
        // Symbols are [N, G, h, w]: symbol i belongs to group (i / (h·w)) % G.
        for (i, s) in result.report.symbols.enumerated() { counts[(i / plane) % groups][Int(s)] += 1 }
    }

    init(run: VQVAETrainingRun) {
        let side = run.crop / run.configuration.stride
        self.init(groups: run.configuration.groups, codebookSize: run.configuration.codebookSize, plane: side * side)
    }

    mutating func reset() {
        steps = 0; mse = 0; commitment = 0; gradientNorm = 0; skipped = 0
        for g in 0..<groups { for k in 0..<codebookSize { counts[g][k] = 0 } }
    }

    /// The fields of a progress report, and sets ``lastMetrics``.
    mutating func fields() -> [ProgressField] {
        let updated = Double(max(1, steps - skipped))
        let meanMSE = mse / updated
        let psnr = meanMSE > 0 ? -10 * log10(meanMSE) : 99
        let usage = CodebookUsage(counts: counts, codebookSize: codebookSize)
        lastMetrics = Metrics(mse: meanMSE, psnr: psnr, commitment: commitment / updated,
                              codesUsed: usage.codesUsed, perplexity: usage.perplexity)
        var fields: [ProgressField] = [
            .number("mse", meanMSE, decimals: 5, label: "mse"),
            .number("psnr_db", psnr, decimals: 2, label: "psnr", unit: "dB"),
            .number("commitment", commitment / updated, decimals: 5, label: "commit"),
            .number("grad_norm", gradientNorm / updated, decimals: 3, label: "|g|"),
            ProgressField(column: "lr", text: String(format: "lr %.2e", learningRate), csv: String(format: "%.4e", learningRate)),
            ProgressField(column: usage.codesUsed.indices.map { "codes_g\($0)" }.joined(separator: ","),
                          text: usage.summary,
                          csv: usage.codesUsed.map(String.init).joined(separator: ",")),
            ProgressField(column: usage.perplexity.indices.map { "perplexity_g\($0)" }.joined(separator: ","),
                          text: "", csv: usage.perplexity.map { String(format: "%.1f", $0) }.joined(separator: ",")),
        ]
        if skipped > 0 {
            fields.append(ProgressField(column: "skipped", text: "skipped \(skipped) non-finite", csv: String(skipped)))
        }
        return fields.filter { !$0.text.isEmpty || !$0.csv.isEmpty }
    }
}

/// Why a training run could not start or continue.
public enum VQVAETrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidRun(String)
    case checkpoint(CheckpointError)
    case model(TransformsError)
    case output(FileIOError)
    /// Ten updates in a row had a non-finite loss or gradient.
    case diverged(step: Int)

    public var description: String {
        switch self {
        case .invalidRun(let problem):
            return "invalid training settings: \(problem)"
        case .checkpoint(let error):
            return error.description
        case .model(let error):
            return "checkpoint model: \(error.description)"
        case .output(let error):
            return error.description
        case .diverged(let step):
            return "training diverged at step \(step): ten updates in a row had a non-finite loss or gradient; "
                + "resume from the last checkpoint with a lower --lr"
        }
    }
}
