import Engine
import FileIO
import Foundation
import IntegerPrior
import Prior
import SafeTensors
import SeededRandom
import Transforms

/// Everything that defines a phase-II prior training run. Saved in every checkpoint and, as the
/// recipe, in the model file.
public struct PriorTrainingRun: Codable, Sendable, Equatable {
    public var configuration: PriorConfiguration
    /// The model file whose VQ-VAE turns the images into symbols.
    public var modelPath: String
    /// Checksum of that VQ-VAE's tensors (`PriorTrainer.vqvaeChecksum`): a resumed run must see
    /// the same VQ-VAE, or its symbols would mean something else.
    public var vqvaeChecksum: String
    public var dataFolder: String
    public var steps: Int
    public var batch: Int
    /// Side of the square crops, in latent positions.
    public var crop: Int
    /// Peak learning rate of Adam, reached after `warmupSteps`, then half a cosine down to a tenth.
    public var learningRate: Float
    public var warmupSteps: Int
    /// The global gradient norm is clipped to this before each update.
    public var clipNorm: Float
    /// Every n-th image is held out for evaluation (0: none).
    public var holdOutEvery: Int
    /// Seeds the weights and the crops.
    public var seed: UInt64
    /// The model file whose float prior the run started from (`PriorTrainer.startPrior(from:)`),
    /// or nil for fresh weights.
    public var initialPrior: String?
    /// The name the output model carries (metadata `name`, written into `.vqc` headers); nil keeps
    /// the name of the model file (`modelPath`).
    public var name: String?
    /// Extra training maps (`SymbolDataset.Augmentation`); nil: none.
    public var augmentation: SymbolDataset.Augmentation?
    public var commandLine: String

    public init(configuration: PriorConfiguration, modelPath: String, vqvaeChecksum: String, dataFolder: String,
                steps: Int, batch: Int = 16, crop: Int = 16, learningRate: Float = 1e-3, warmupSteps: Int? = nil,
                clipNorm: Float = 1, holdOutEvery: Int = 10, seed: UInt64 = 1, initialPrior: String? = nil,
                name: String? = nil, augmentation: SymbolDataset.Augmentation? = nil, commandLine: String = "") {
        self.configuration = configuration
        self.modelPath = modelPath
        self.vqvaeChecksum = vqvaeChecksum
        self.dataFolder = dataFolder
        self.steps = steps
        self.batch = batch
        self.crop = crop
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps ?? min(500, steps / 10)
        self.clipNorm = clipNorm
        self.holdOutEvery = holdOutEvery
        self.seed = seed
        self.initialPrior = initialPrior
        self.name = name
        self.augmentation = augmentation == SymbolDataset.Augmentation.none ? nil : augmentation
        self.commandLine = commandLine
    }

    /// Why these settings cannot train, or nil.
    public var problem: String? {
        do { try configuration.validate() } catch { return error.description }
        if steps < 1 { return "steps must be at least 1, found \(steps)" }
        if batch < 1 || batch > 1024 { return "batch must be 1 to 1024, found \(batch)" }
        if crop < 1 || crop > 1024 { return "crop must be 1 to 1024 latent positions, found \(crop)" }
        if !(learningRate > 0 && learningRate < 1) { return "learning rate must be between 0 and 1, found \(learningRate)" }
        if warmupSteps < 0 || warmupSteps > steps { return "warm-up must be 0 to \(steps) steps, found \(warmupSteps)" }
        if !(clipNorm > 0) { return "gradient clip norm must be positive, found \(clipNorm)" }
        if holdOutEvery < 0 { return "hold-out interval must be ≥ 0, found \(holdOutEvery)" }
        if let name, !VQVAE.isValidName(name) { return "name must be 1 to 64 printable ASCII characters, found \"\(name)\"" }
        return nil
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(peak: learningRate, floor: learningRate / 10, warmupSteps: warmupSteps,
                             decay: .cosine(totalSteps: steps))
    }
}

/// The rate of held-out images: the float prior's cross-entropy and, when evaluated, the integer
/// prior's code length (what the codec writes, each image one tile).
public struct PriorEvaluation: Codable, Sendable, Equatable {
    public var images: Int
    public var symbols: Int
    public var pixels: Int
    public var floatBits: Double
    public var integerBits: Double?

    public var floatBitsPerSymbol: Double { floatBits / Double(symbols) }
    public var floatBitsPerPixel: Double { floatBits / Double(pixels) }
    public var integerBitsPerPixel: Double? { integerBits.map { $0 / Double(pixels) } }
    /// Integer over float, minus one: what freezing costs.
    public var integerCost: Double? { integerBits.map { $0 / floatBits - 1 } }
}

/// Phase-II training of a `PixelCNNPrior` on the symbol maps of a trained VQ-VAE: random crops,
/// Adam with warm-up and cosine decay, gradient-norm clipping, checkpoints that resume exactly,
/// held-out evaluation, and at the end the frozen integer prior written into the model file
/// beside the VQ-VAE.
///
/// Randomness is a function of (seed, step): the crops of step t come from a SplitMix64 seeded
/// from (seed, t), so a resumed run draws the crops the uninterrupted run would have.
public final class PriorTrainer {
    public let run: PriorTrainingRun
    public let prior: PixelCNNPrior
    public let optimizer: Adam
    /// Steps done.
    public private(set) var step: Int
    /// Training seconds spent before this process (a resumed run).
    public let elapsedBefore: Double
    /// The last held-out evaluation, if any.
    public private(set) var evaluation: PriorEvaluation?
    private var window = Window()
    private var update = GuardedUpdate()

    /// Metadata keys of the model file.
    public static let recipeKey = "prior.recipe"
    public static let metricsKey = "prior.metrics"

    /// A new run.
    public init(run: PriorTrainingRun) {
        if let problem = run.problem { preconditionFailure("invalid training run: \(problem)") }
        self.run = run
        prior = PixelCNNPrior(configuration: run.configuration, seed: run.seed)
        optimizer = Adam(parameters: prior.parameters, learningRate: run.learningRate)
        step = 0
        elapsedBefore = 0
    }

    /// Warm start: copies `source`'s weights, before the first step. Its configuration must be the
    /// run's. Worth it when the symbols mean what they meant to `source`: the same VQ-VAE (a prior
    /// trained further). A VQ-VAE whose training continued another's codebooks keeps its codes'
    /// indices only for a while (30 to 40 % of codes after 3,500 more steps, 1 % after 30,000).
    public func startPrior(from source: PixelCNNPrior) throws(PriorTrainingError) {
        precondition(step == 0, "a warm start replaces the weights before the first step")
        guard source.configuration == run.configuration else {
            throw .invalidRun("the warm-start prior has \(source.configuration.summary); this run's has \(run.configuration.summary)")
        }
        for (target, value) in zip(prior.parameters, source.parameters) {
            precondition(target.name == value.name && target.value.shape == value.value.shape, "same configuration, same parameters")
            target.value = value.value
        }
    }

    /// Resumes the run saved in `checkpoint`.
    public init(resumingFrom checkpoint: CheckpointFolder) throws(PriorTrainingError) {
        let contents: CheckpointFolder.Contents<PriorTrainingRun>
        do { contents = try checkpoint.load(as: PriorTrainingRun.self) } catch { throw .checkpoint(error) }
        if let problem = contents.run.problem { throw .invalidRun(problem) }
        guard let modelFile = contents.files["prior"], let optimizerFile = contents.files["optimizer"] else {
            throw .checkpoint(.invalidManifest(checkpoint.path, reason: "it must name a prior and an optimizer file"))
        }
        let prior: PixelCNNPrior
        do { prior = try PixelCNNPrior(file: modelFile) } catch { throw .prior(error) }
        guard prior.configuration == contents.run.configuration else {
            throw .checkpoint(.invalidManifest(checkpoint.path, reason: "the prior's configuration differs from the run's"))
        }
        run = contents.run
        self.prior = prior
        optimizer = Adam(parameters: prior.parameters, learningRate: run.learningRate)
        do { try optimizer.restore(from: optimizerFile) } catch { throw .checkpoint(.file(error)) }
        step = contents.step
        elapsedBefore = contents.elapsedSeconds
    }

    /// The checkpoint folder of a run writing `output`: `output.prior.ckpt` (not `output.ckpt`,
    /// which belongs to the VQ-VAE's run when the prior is added to the same file).
    public static func checkpointFolder(forOutput output: String) -> CheckpointFolder {
        CheckpointFolder(path: output + ".prior.ckpt")
    }

    /// What one step did.
    public struct StepResult: Sendable {
        /// Mean cross-entropy of the batch, bits per symbol.
        public var bits: Float
        public var learningRate: Float
        /// Global gradient norm before clipping.
        public var gradientNorm: Float
        /// False when the update was skipped because something was not finite.
        public var updated: Bool
    }

    /// Takes one training step on a batch of crops drawn from `dataset`.
    @discardableResult
    public func trainStep(dataset: SymbolDataset) throws(PriorTrainingError) -> StepResult {
        precondition(step < run.steps, "the run is complete")
        var generator = SplitMix64(seed: Self.streamSeed(run.seed, step: step))
        let crop = min(run.crop, dataset.largestCrop)
        let symbols = dataset.batch(size: run.batch, crop: crop, using: &generator)
        for parameter in optimizer.parameters { parameter.zeroGradient() }
        let bits = prior.trainStep(symbols: symbols, batch: run.batch, height: crop, width: crop)
        let outcome = update.apply(to: optimizer, schedule: run.schedule, clipNorm: run.clipNorm, step: step,
                                   lossIsFinite: bits.isFinite)
        if outcome.diverged { throw .diverged(step: step) }
        step += 1
        let result = StepResult(bits: bits, learningRate: outcome.learningRate, gradientNorm: outcome.gradientNorm,
                                updated: outcome.updated)
        window.add(result)
        return result
    }

    /// The held-out rate: float cross-entropy of every held-out map (each whole, as one tile) and,
    /// with `integer`, the code length under `integerPrior` (frozen from the current weights when nil).
    public func evaluate(dataset: SymbolDataset, integer: Bool, integerPrior: IntegerPrior? = nil) -> PriorEvaluation? {
        guard !dataset.heldOut.isEmpty else { return nil }
        var result = PriorEvaluation(images: dataset.heldOut.count, symbols: 0, pixels: 0, floatBits: 0,
                                     integerBits: integer ? 0 : nil)
        let frozen = integer ? (integerPrior ?? prior.freeze()) : nil
        for map in dataset.heldOut {
            result.symbols += map.symbols.count
            result.pixels += map.pixelCount
            result.floatBits += prior.crossEntropyBits(symbols: map.symbols, batch: 1, height: map.height, width: map.width)
            if let frozen {
                result.integerBits! += frozen.bits(symbols: map.symbols, height: map.height, width: map.width)
            }
        }
        evaluation = result
        return result
    }

    public typealias Outcome = TrainingOutcome

    /// Trains until `run.steps` (``TrainingLoop``), reporting every `logEvery` steps, evaluating
    /// the held-out maps every `evaluateEvery` steps, and saving a checkpoint and the model file so
    /// far every `checkpointEvery` steps, when `shouldStop` says so, and at the end (with a final
    /// held-out evaluation of the float and the integer prior).
    ///
    /// - base: the VQ-VAE's model file; the output is its tensors and metadata with the prior's added
    ///   (any earlier prior in it replaced).
    /// - output: the model file to write (atomically; it may be the base file's path).
    public func train(dataset: SymbolDataset, base: SafeTensorsFile, output: String, protectedPaths: [String],
                      checkpointEvery: Int, logEvery: Int, evaluateEvery: Int, progress: TrainingProgress,
                      shouldStop: () -> Bool) throws(PriorTrainingError) -> Outcome {
        precondition(evaluateEvery > 0)
        let checkpoint = Self.checkpointFolder(forOutput: output)
        let loop = TrainingLoop(checkpointEvery: checkpointEvery, logEvery: logEvery, progress: progress,
                                checkpointPath: checkpoint.path)
        let outcome = try loop.run(
            steps: run.steps, step: { step }, shouldStop: shouldStop,
            trainStep: { () throws(PriorTrainingError) in try trainStep(dataset: dataset) },
            afterStep: { done in
                done % evaluateEvery == 0 && done < run.steps && evaluate(dataset: dataset, integer: false) != nil
            },
            report: { evaluated in
                defer { window.reset() }
                return window.fields(evaluation: evaluated ? evaluation : nil, groups: run.configuration.groups)
            },
            save: { () throws(PriorTrainingError) in
                try save(base: base, output: output, protectedPaths: protectedPaths, checkpoint: checkpoint, progress: progress)
            })
        guard outcome == .finished else { return outcome }
        progress.closeLine()
        let frozen = prior.freeze()
        if let result = evaluate(dataset: dataset, integer: true, integerPrior: frozen) {
            progress.message(Self.summary(result))
        }
        try save(base: base, output: output, protectedPaths: protectedPaths, checkpoint: checkpoint, progress: progress,
                 frozen: frozen)
        return .finished
    }

    /// One line about a held-out evaluation.
    public static func summary(_ e: PriorEvaluation) -> String {
        var text = "held out (\(e.images) images, each one tile): float prior "
            + String(format: "%.4f bits/symbol, %.4f bpp", e.floatBitsPerSymbol, e.floatBitsPerPixel)
        if let bits = e.integerBits, let cost = e.integerCost {
            text += String(format: "; integer prior %.4f bits/symbol, %.4f bpp (%+.3f%%)",
                           bits / Double(e.symbols), bits / Double(e.pixels), 100 * cost)
        }
        return text
    }

    /// Writes the checkpoint (float prior + optimizer), then the model file (VQ-VAE + float and
    /// integer prior + recipe).
    public func save(base: SafeTensorsFile, output: String, protectedPaths: [String], checkpoint: CheckpointFolder,
                     progress: TrainingProgress, frozen: IntegerPrior? = nil) throws(PriorTrainingError) {
        let elapsed = elapsedBefore + progress.sessionSeconds
        let state = SafeTensorsFile(metadata: prior.metadata, tensors: prior.storedTensors(dtype: .f32))
        do {
            try checkpoint.save(step: step, elapsedSeconds: elapsed, run: run,
                                files: ["prior": state, "optimizer": optimizer.state()])
        } catch { throw .checkpoint(error) }
        let file = modelFile(base: base, elapsedSeconds: elapsed, frozen: frozen ?? prior.freeze())
        do { try AtomicFile.write(file.serialized(), to: output, refusingToOverwrite: protectedPaths) } catch {
            throw .output(error)
        }
    }

    /// The model file: `base` without any earlier prior, plus the float prior (`prior.*`,
    /// `prior.config`), the integer prior (`prior_int.*`, `prior_int.config`), `prior.recipe` (how
    /// it was trained, JSON) and `prior.metrics` (the last held-out evaluation, JSON).
    public func modelFile(base: SafeTensorsFile, elapsedSeconds: Double, frozen: IntegerPrior) -> SafeTensorsFile {
        var file = Self.withoutPrior(base)
        for (key, tensor) in prior.storedTensors(dtype: .f32) { file.tensors[key] = tensor }
        for (key, tensor) in frozen.storedTensors() { file.tensors[key] = tensor }
        for (key, value) in prior.metadata { file.metadata[key] = value }
        for (key, value) in frozen.metadata { file.metadata[key] = value }
        if let name = run.name { file.metadata[VQVAE.nameKey] = name }
        let recipe = Recipe(commandLine: run.commandLine, model: run.modelPath, dataFolder: run.dataFolder, seed: run.seed,
                            steps: step, plannedSteps: run.steps, batch: run.batch, crop: run.crop,
                            learningRate: run.learningRate, warmupSteps: run.warmupSteps, clipNorm: run.clipNorm,
                            holdOutEvery: run.holdOutEvery, initialPrior: run.initialPrior, augmentation: run.augmentation,
                            wallSeconds: (elapsedSeconds * 10).rounded() / 10, date: ISO8601DateFormatter().string(from: Date()))
        file.metadata[Self.recipeKey] = Self.json(recipe)
        if let evaluation { file.metadata[Self.metricsKey] = Self.json(Metrics(evaluation)) }
        return file
    }

    /// `file` without tensors or metadata of a prior (`prior.*`, `prior_int.*`).
    public static func withoutPrior(_ file: SafeTensorsFile) -> SafeTensorsFile {
        func isPrior(_ key: String) -> Bool {
            key.hasPrefix(PixelCNNPrior.tensorPrefix) || key.hasPrefix(IntegerPrior.tensorPrefix)
        }
        return SafeTensorsFile(metadata: file.metadata.filter { !isPrior($0.key) },
                               tensors: file.tensors.filter { !isPrior($0.key) })
    }

    /// FNV-1a (64-bit) of every tensor that is not a prior's, in key order: names, dtypes, shapes
    /// and bytes. Identifies the VQ-VAE a run's symbols come from.
    public static func vqvaeChecksum(_ file: SafeTensorsFile) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        let tensors = withoutPrior(file).tensors.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (key, tensor) in tensors {
            mix(key.utf8)
            mix(tensor.dtype.rawValue.utf8)
            mix(tensor.shape.map(String.init).joined(separator: ",").utf8)
            mix(tensor.bytes)
        }
        return String(hash, radix: 16)
    }

    struct Recipe: Codable {
        var commandLine: String
        var model: String
        var dataFolder: String
        var seed: UInt64
        var steps: Int
        var plannedSteps: Int
        var batch: Int
        var crop: Int
        var learningRate: Float
        var warmupSteps: Int
        var clipNorm: Float
        var holdOutEvery: Int
        /// The model whose prior the run started from (absent: fresh weights).
        var initialPrior: String?
        /// Extra training maps (absent: none).
        var augmentation: SymbolDataset.Augmentation?
        var wallSeconds: Double
        var date: String
    }

    struct Metrics: Codable {
        var heldOutImages: Int
        var heldOutBitsPerSymbol: Double
        var heldOutBitsPerPixel: Double
        var integerBitsPerPixel: Double?
        var integerCostPercent: Double?

        init(_ e: PriorEvaluation) {
            heldOutImages = e.images
            heldOutBitsPerSymbol = e.floatBitsPerSymbol
            heldOutBitsPerPixel = e.floatBitsPerPixel
            integerBitsPerPixel = e.integerBitsPerPixel
            integerCostPercent = e.integerCost.map { 100 * $0 }
        }
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    /// The seed of step `step`'s crops: SplitMix64's output function on a mix of the two, so
    /// neighbouring steps get unrelated streams.
    static func streamSeed(_ seed: UInt64, step: Int) -> UInt64 {
        var generator = SplitMix64(seed: seed ^ (UInt64(step) &* 0xD1B5_4A32_D192_ED03) ^ 0x5851_F42D_4C95_7F2D)
        return generator.next()
    }

    /// Training metrics summed over the steps since the last report.
    private struct Window {
        var steps = 0
        var bits: Double = 0
        var gradientNorm: Double = 0
        var skipped = 0
        var learningRate: Float = 0

        mutating func add(_ result: StepResult) {
            steps += 1
            if result.updated {
                bits += Double(result.bits)
                gradientNorm += Double(result.gradientNorm)
            } else {
                skipped += 1
            }
            learningRate = result.learningRate
        }

        mutating func reset() { self = Window() }

        func fields(evaluation: PriorEvaluation?, groups: Int) -> [ProgressField] {
            let updated = Double(max(1, steps - skipped))
            let fields: [ProgressField] = [
                .number("bits_per_symbol", bits / updated, decimals: 4, label: "bits/symbol"),
                .number("grad_norm", gradientNorm / updated, decimals: 3, label: "|g|"),
                ProgressField(column: "lr", text: String(format: "lr %.2e", learningRate), csv: String(format: "%.4e", learningRate)),
                ProgressField(column: "held_out_bits_per_symbol",
                              text: evaluation.map { String(format: "held-out %.4f bits/symbol", $0.floatBitsPerSymbol) } ?? "",
                              csv: evaluation.map { String(format: "%.6g", $0.floatBitsPerSymbol) } ?? ""),
                ProgressField(column: "held_out_bpp",
                              text: evaluation.map { String(format: "%.4f bpp", $0.floatBitsPerPixel) } ?? "",
                              csv: evaluation.map { String(format: "%.6g", $0.floatBitsPerPixel) } ?? ""),
                ProgressField(column: "skipped", text: skipped > 0 ? "skipped \(skipped) non-finite" : "",
                              csv: String(skipped)),
            ]
            return fields
        }
    }
}

/// Why a prior training run could not start or continue.
public enum PriorTrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidRun(String)
    case checkpoint(CheckpointError)
    case prior(PriorError)
    case output(FileIOError)
    /// Ten updates in a row had a non-finite loss or gradient.
    case diverged(step: Int)

    public var description: String {
        switch self {
        case .invalidRun(let problem):
            return "invalid training settings: \(problem)"
        case .checkpoint(let error):
            return error.description
        case .prior(let error):
            return "checkpoint prior: \(error.description)"
        case .output(let error):
            return error.description
        case .diverged(let step):
            return "training diverged at step \(step): ten updates in a row had a non-finite loss or gradient; "
                + "resume from the last checkpoint with a lower --lr"
        }
    }
}
