import SafeTensors
import XCTest
import Engine
import Images
import Transforms
@testable import Training

final class VQVAETrainerTests: XCTestCase {
    let tiny = VQVAEConfiguration(stride: 8, width: 16, latentChannels: 8, groups: 2, codebookSize: 16)

    func photo() throws -> ImageDataset {
        ImageDataset(images: [try PNG.read(path: TrainingFixtures.image("photo-64x48.png"))], folder: "fixture")
    }

    func run(steps: Int, learningRate: Float = 3e-3) -> VQVAETrainingRun {
        VQVAETrainingRun(configuration: tiny, name: "tiny", dataFolder: "fixture", steps: steps, batch: 4, crop: 32,
                         learningRate: learningRate, warmupSteps: min(10, steps), seed: 3, commandLine: "test")
    }

    func testShortTrainingLowersTheErrorAndKeepsCodesInUse() throws {
        let dataset = try photo()
        let trainer = VQVAETrainer(run: run(steps: 250))
        var mse: [Float] = []
        var counts = [[Int]](repeating: [Int](repeating: 0, count: 16), count: 2)
        for step in 0..<250 {
            let result = try trainer.trainStep(dataset: dataset)
            XCTAssertTrue(result.updated)
            mse.append(result.report.mse)
            if step >= 200 {
                for (i, s) in result.report.symbols.enumerated() { counts[(i / 16) % 2][Int(s)] += 1 }
            }
        }
        let first = mse.prefix(10).reduce(0, +) / 10, last = mse.suffix(50).reduce(0, +) / 50
        XCTAssertLessThan(last, first / 4, "MSE went from \(first) to \(last)")
        let usage = CodebookUsageSummary(counts)
        XCTAssertGreaterThanOrEqual(usage.used.min()!, 12, "codes used per group over the last 50 steps: \(usage.used)")
        XCTAssertGreaterThan(usage.perplexity.min()!, 10, "perplexity per group: \(usage.perplexity)")

        // The trained model codes the whole fixture: symbols in range, shaped [1, G, 48/8, 64/8].
        let image = try PNG.read(path: TrainingFixtures.image("photo-64x48.png"))
        var tensor = Tensor(zeros: [1, 3, 48, 64])
        for y in 0..<48 { for x in 0..<64 { for c in 0..<3 { tensor.data[(c * 48 + y) * 64 + x] = Float(image[x, y, c]) / 255 } } }
        let symbols = trainer.model.symbols(images: tensor)
        XCTAssertEqual(symbols.count, 2 * 6 * 8)
        XCTAssertTrue(symbols.allSatisfy { (0..<16).contains($0) })
        let reconstruction = trainer.model.reconstruct(symbols: symbols, batch: 1, height: 6, width: 8)
        let error = zip(reconstruction.data, tensor.data).map { (min(max($0, 0), 1) - $1) * (min(max($0, 0), 1) - $1) }
        let wholeImageMSE = error.reduce(0, +) / Float(error.count)
        XCTAssertLessThan(wholeImageMSE, first / 4, "the whole image codes about as well as the crops")
    }

    func testWarmStartCopiesTransformsAndKeepsCodebooksOnlyWhenTheyFit() throws {
        let dataset = try photo()
        let source = VQVAETrainer(run: run(steps: 20))
        for _ in 0..<20 { try source.trainStep(dataset: dataset) }

        // Same groups and codebook size: transforms and codebooks continue from the source.
        let same = VQVAETrainer(run: run(steps: 20))
        try same.startTransforms(from: source.model)
        for (mine, theirs) in zip(same.model.parameters, source.model.parameters) {
            XCTAssertEqual(mine.value.data, theirs.value.data, mine.name)
        }
        XCTAssertTrue(same.model.isInitialised)
        XCTAssertEqual(same.model.codebooks.vectors, source.model.codebooks.vectors)

        // Other groups: the transforms only; the codebooks wait for the first batch.
        var other = tiny
        other.groups = 4
        let requantised = VQVAETrainer(run: VQVAETrainingRun(configuration: other, name: "tiny4", dataFolder: "fixture", steps: 5,
                                                             batch: 4, crop: 32, learningRate: 1e-3, warmupSteps: 2, seed: 3, commandLine: "test"))
        try requantised.startTransforms(from: source.model)
        XCTAssertFalse(requantised.model.isInitialised)
        XCTAssertEqual(requantised.model.parameters.first?.value.data, source.model.parameters.first?.value.data)
        try requantised.trainStep(dataset: dataset)
        XCTAssertTrue(requantised.model.isInitialised)

        // Another stride cannot start from these transforms.
        var wider = tiny
        wider.stride = 16
        let mismatched = VQVAETrainer(run: VQVAETrainingRun(configuration: wider, name: "tiny16", dataFolder: "fixture", steps: 5,
                                                            batch: 4, crop: 32, learningRate: 1e-3, warmupSteps: 2, seed: 3, commandLine: "test"))
        XCTAssertThrowsError(try mismatched.startTransforms(from: source.model))
    }

    func testDecoderOnlyRunKeepsTheSymbolsAndLowersTheError() throws {
        let dataset = try photo()
        let source = VQVAETrainer(run: run(steps: 60))
        for _ in 0..<60 { try source.trainStep(dataset: dataset) }
        let image = try PNG.read(path: TrainingFixtures.image("photo-64x48.png"))
        var tensor = Tensor(zeros: [1, 3, 48, 64])
        for y in 0..<48 { for x in 0..<64 { for c in 0..<3 { tensor.data[(c * 48 + y) * 64 + x] = Float(image[x, y, c]) / 255 } } }
        let symbolsBefore = source.model.symbols(images: tensor)
        func wholeImageMSE(_ model: VQVAE) -> Float {
            let r = model.reconstruct(symbols: symbolsBefore, batch: 1, height: 6, width: 8)
            let e = zip(r.data, tensor.data).map { (min(max($0, 0), 1) - $1) * (min(max($0, 0), 1) - $1) }
            return e.reduce(0, +) / Float(e.count)
        }

        var settings = run(steps: 150, learningRate: 2e-3)
        settings.decoderOnly = true
        settings.initialTransforms = "source.safetensors"
        XCTAssertNil(settings.problem)
        let fineTune = VQVAETrainer(run: settings)
        try fineTune.startTransforms(from: source.model)
        XCTAssertEqual(fineTune.optimizer.parameters.map(\.name), source.model.synthesisParameters.map(\.name),
                       "the optimiser holds the synthesis only")
        for _ in 0..<150 { XCTAssertTrue(try fineTune.trainStep(dataset: dataset).updated) }

        // Analysis and codebooks bit for bit as they were, so the symbols (and a prior on them) too.
        let synthesisNames = Set(source.model.synthesisParameters.map(\.name))
        for (mine, theirs) in zip(fineTune.model.parameters, source.model.parameters) where !synthesisNames.contains(mine.name) {
            XCTAssertEqual(mine.value.data, theirs.value.data, mine.name)
        }
        XCTAssertEqual(fineTune.model.codebooks.vectors, source.model.codebooks.vectors)
        XCTAssertEqual(fineTune.model.symbols(images: tensor), symbolsBefore)
        XCTAssertNotEqual(fineTune.model.synthesisParameters.first?.value.data, source.model.synthesisParameters.first?.value.data)
        XCTAssertLessThan(wholeImageMSE(fineTune.model), wholeImageMSE(source.model) * 0.9,
                          "the decoder fits the same symbols better")
    }

    func testDecoderOnlyRunNeedsATrainedModelWithTheSameCodebooks() throws {
        var settings = run(steps: 10)
        settings.decoderOnly = true
        XCTAssertEqual(settings.problem, "a decoder-only run fine-tunes a trained model: it needs the model to start from (--init-from)")
        settings.initialTransforms = "m.safetensors"
        XCTAssertNil(settings.problem)

        // Another codebook shape would change the symbols: refused.
        let source = VQVAETrainer(run: run(steps: 2))
        for _ in 0..<2 { try source.trainStep(dataset: try photo()) }
        var other = settings
        other.configuration.groups = 4
        XCTAssertThrowsError(try VQVAETrainer(run: other).startTransforms(from: source.model)) { error in
            XCTAssertTrue("\(error)".contains("keeps the codebooks"), "\(error)")
        }
        // Untrained codebooks too.
        XCTAssertThrowsError(try VQVAETrainer(run: settings).startTransforms(from: VQVAETrainer(run: run(steps: 2)).model))
        XCTAssertNoThrow(try VQVAETrainer(run: settings).startTransforms(from: source.model))
    }

    func testCheckpointsFromBeforeDecoderOnlyStillLoad() throws {
        var settings = run(steps: 10)
        settings.decoderOnly = true
        settings.initialTransforms = "m.safetensors"
        let data = try JSONEncoder().encode(settings)
        XCTAssertEqual(try JSONDecoder().decode(VQVAETrainingRun.self, from: data), settings)
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object.removeValue(forKey: "decoderOnly")
        let old = try JSONDecoder().decode(VQVAETrainingRun.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.decoderOnly, "a run saved without the field trained everything")
        XCTAssertEqual(old.initialTransforms, "m.safetensors")
    }

    struct CodebookUsageSummary {
        var used: [Int]
        var perplexity: [Double]
        init(_ counts: [[Int]]) {
            used = counts.map { $0.filter { $0 > 0 }.count }
            perplexity = counts.map { row in
                let total = Double(row.reduce(0, +))
                return exp2(-row.filter { $0 > 0 }.map { Double($0) / total }.map { $0 * log2($0) }.reduce(0, +))
            }
        }
    }

    func testInterruptedAndResumedRunEndsWhereAnUninterruptedRunEnds() throws {
        let dataset = try photo()
        let folder = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let quiet = { (_: String) in }

        let straight = VQVAETrainer(run: run(steps: 8))
        let straightOutput = folder + "/straight.safetensors"
        let p1 = try TrainingProgress(totalSteps: 8, csvPath: nil, interactive: false, write: quiet)
        XCTAssertEqual(try straight.train(dataset: dataset, output: straightOutput, checkpointEvery: 100, logEvery: 4,
                                          progress: p1, shouldStop: { false }), .finished)

        let output = folder + "/resumed.safetensors"
        let first = VQVAETrainer(run: run(steps: 8))
        let p2 = try TrainingProgress(totalSteps: 8, csvPath: nil, interactive: false, write: quiet)
        XCTAssertEqual(try first.train(dataset: dataset, output: output, checkpointEvery: 3, logEvery: 4,
                                       progress: p2, shouldStop: { first.step == 5 }), .interrupted(step: 5))
        let second = try VQVAETrainer(resumingFrom: CheckpointFolder(forOutput: output))
        XCTAssertEqual(second.step, 5)
        XCTAssertEqual(second.optimizer.stepCount, 5)
        XCTAssertEqual(second.run, run(steps: 8))
        let p3 = try TrainingProgress(totalSteps: 8, firstStep: 5, csvPath: nil, interactive: false, write: quiet)
        XCTAssertEqual(try second.train(dataset: dataset, output: output, checkpointEvery: 3, logEvery: 4,
                                        progress: p3, shouldStop: { false }), .finished)

        XCTAssertEqual(second.model.storedTensors(dtype: .f32, includeTrainingState: true),
                       straight.model.storedTensors(dtype: .f32, includeTrainingState: true),
                       "same weights, codebooks and EMA state, bit for bit")
        XCTAssertEqual(try SafeTensorsFile(contentsOf: output).tensors, try SafeTensorsFile(contentsOf: straightOutput).tensors)
    }

    func testModelFileHoldsWhatCodingNeedsAndTheRecipe() throws {
        let dataset = try photo()
        let folder = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = folder + "/m.safetensors"
        let trainer = VQVAETrainer(run: run(steps: 4))
        let progress = try TrainingProgress(totalSteps: 4, csvPath: nil, interactive: false, write: { _ in })
        _ = try trainer.train(dataset: dataset, output: output, checkpointEvery: 2, logEvery: 2,
                              progress: progress, shouldStop: { false })
        let file = try SafeTensorsFile(contentsOf: output)
        XCTAssertEqual(Set(file.tensors.keys), Set(trainer.model.parameters.map(\.name) + ["quantizer.codebook"]),
                       "no optimizer or EMA state in the model file")
        XCTAssertEqual(file.metadata["vqvae.config"], tiny.json)
        XCTAssertEqual(file.metadata["name"], "tiny")
        let recipe = try JSONSerialization.jsonObject(with: Data(file.metadata["vqvae.recipe"]!.utf8)) as! [String: Any]
        XCTAssertEqual(recipe["steps"] as? Int, 4)
        XCTAssertEqual(recipe["seed"] as? Int, 3)
        XCTAssertEqual(recipe["batch"] as? Int, 4)
        XCTAssertEqual(recipe["crop"] as? Int, 32)
        XCTAssertEqual(recipe["commandLine"] as? String, "test")
        XCTAssertNotNil(recipe["wallSeconds"] as? Double)
        XCTAssertNotNil(file.metadata["vqvae.metrics"])
        let loaded = try VQVAE(file: file)
        XCTAssertEqual(loaded.codebooks, trainer.model.codebooks)
        let checkpoint = try CheckpointFolder(forOutput: output).load(as: VQVAETrainingRun.self)
        XCTAssertEqual(checkpoint.step, 4)
        XCTAssertNotNil(checkpoint.files["optimizer"]?.tensors["m/analysis.0.weight"], "the optimizer state lives in the checkpoint")
    }

    func testRunSettingsAreValidated() {
        XCTAssertNil(run(steps: 10).problem)
        var bad = run(steps: 10)
        bad.crop = 36
        XCTAssertEqual(bad.problem, "crop must be a multiple of the stride 8 up to 4096, found 36")
        bad = run(steps: 10)
        bad.name = "é"
        XCTAssertEqual(bad.problem, "name must be 1 to 64 printable ASCII characters, found \"é\"")
        XCTAssertEqual(run(steps: 1000).schedule.learningRate(atStep: 999), 3e-4, accuracy: 1e-6, "cosine ends at a tenth")
    }
}
