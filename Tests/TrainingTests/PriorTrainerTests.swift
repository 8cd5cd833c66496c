import IntegerPrior
import SeededRandom
import SafeTensors
import Engine
import Foundation
import Images
import Prior
import Transforms
import XCTest
@testable import Training

/// Phase II: symbol maps from a VQ-VAE, crops, the training loop, checkpoints that resume
/// exactly, and the model file it writes (VQ-VAE + float prior + integer prior + recipe).
final class PriorTrainerTests: XCTestCase {
    private let configuration = PriorConfiguration(groups: 2, codebookSize: 16, embeddingDimension: 4, channels: 8,
                                                   blocks: 2, kernelSize: 3, headChannels: 8)
    private var folder = ""

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("prior-trainer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Maps whose symbols follow their left neighbour (plus noise), so a prior can learn them.
    private func dataset(maps: Int = 6, size: Int = 12, heldOut: Int = 2) -> SymbolDataset {
        var generator = SplitMix64(seed: 99)
        func map(_ index: Int) -> SymbolDataset.Map {
            var symbols = [Int32](repeating: 0, count: 2 * size * size)
            for r in 0..<size {
                for c in 0..<size {
                    let previous = c > 0 ? Int(symbols[r * size + c - 1]) : Int(generator.next() % 16)
                    let s0 = generator.next() % 6 == 0 ? Int(generator.next() % 16) : (previous + 1) % 16
                    symbols[r * size + c] = Int32(s0)
                    symbols[(size + r) * size + c] = Int32((s0 * 3 + 1) % 16)
                }
            }
            return SymbolDataset.Map(path: "map\(index)", pixelCount: 64 * size * size, height: size, width: size, symbols: symbols)
        }
        return SymbolDataset(groups: 2, codebookSize: 16, training: (0..<maps).map(map), heldOut: (maps..<maps + heldOut).map(map))
    }

    private func run(steps: Int) -> PriorTrainingRun {
        PriorTrainingRun(configuration: configuration, modelPath: "base.safetensors", vqvaeChecksum: "0", dataFolder: "maps",
                         steps: steps, batch: 4, crop: 8, learningRate: 1e-2, warmupSteps: 5, seed: 7, commandLine: "test")
    }

    private func progress(_ steps: Int) throws -> TrainingProgress {
        try TrainingProgress(totalSteps: steps, csvPath: nil, interactive: false, write: { _ in })
    }

    /// A VQ-VAE model file as phase I writes it.
    private func baseFile() -> SafeTensorsFile {
        let vqvae = VQVAE(configuration: VQVAEConfiguration(stride: 8, width: 8, latentChannels: 4, groups: 2, codebookSize: 16),
                          seed: 1, name: "tiny")
        return SafeTensorsFile(metadata: vqvae.metadata, tensors: vqvae.storedTensors(dtype: .f32, includeTrainingState: false))
    }

    func testCropsAreUnflippedWindowsOfTrainingMaps() {
        let data = dataset()
        var generator = SplitMix64(seed: 5)
        let crop = 5
        let batch = data.batch(size: 20, crop: crop, using: &generator)
        XCTAssertEqual(batch.count, 20 * 2 * crop * crop)
        for item in 0..<20 {
            let found = data.training.contains { map in
                (0...(map.height - crop)).contains { top in
                    (0...(map.width - crop)).contains { left in
                        (0..<2).allSatisfy { g in
                            (0..<crop).allSatisfy { y in
                                (0..<crop).allSatisfy { x in
                                    batch[((item * 2 + g) * crop + y) * crop + x] == map.symbols[(g * map.height + top + y) * map.width + left + x]
                                }
                            }
                        }
                    }
                }
            }
            XCTAssertTrue(found, "crop \(item) is not a window of a training map")
        }
        var again = SplitMix64(seed: 5)
        XCTAssertEqual(data.batch(size: 20, crop: crop, using: &again), batch)
    }

    func testMapsCoverWholePaddedImagesAndEveryNthIsHeldOut() {
        let images = (0..<5).map { i in
            Image(width: 20 + i, height: 9, colorType: .rgb, pixels: (0..<(20 + i) * 9 * 3).map { UInt8(($0 * 7 + i) % 256) })
        }
        let vqvae = VQVAE(configuration: VQVAEConfiguration(stride: 8, width: 8, latentChannels: 4, groups: 2, codebookSize: 16), seed: 2)
        var calls = 0
        let data = SymbolDataset(images: ImageDataset(images: images), model: vqvae, holdOutEvery: 2) { _, total in
            calls += 1
            XCTAssertEqual(total, 5)
        }
        XCTAssertEqual(calls, 5)
        XCTAssertEqual(data.training.map(\.path), ["(memory)#0", "(memory)#2", "(memory)#4"])
        XCTAssertEqual(data.heldOut.map(\.path), ["(memory)#1", "(memory)#3"])
        for map in data.training + data.heldOut {
            XCTAssertEqual(map.height, 2)  // 9 rows pad to 16
            XCTAssertEqual(map.width, 3)   // 20…24 columns pad to 24
            XCTAssertEqual(map.symbols.count, 2 * 2 * 3)
        }
        XCTAssertEqual(data.training[0].pixelCount, 20 * 9)

        // Padding repeats the last row and column.
        let tensor = SymbolDataset.paddedTensor(images[0], stride: 8)
        XCTAssertEqual(tensor.shape, [1, 3, 16, 24])
        XCTAssertEqual(tensor.data[(2 * 16 + 15) * 24 + 23], Float(images[0][19, 8, 2]) / 255)
        XCTAssertEqual(tensor.data[(1 * 16 + 3) * 24 + 22], Float(images[0][19, 3, 1]) / 255)
    }

    func testAugmentationAddsMirroredAndShiftedImagesToTrainingOnly() {
        let image = Image(width: 21, height: 18, colorType: .rgb, pixels: (0..<21 * 18 * 3).map { UInt8(($0 * 13) % 251) })
        let variants = SymbolDataset.variants(of: image, stride: 8)
        XCTAssertEqual(variants.map(\.name), ["shift 0,4", "shift 4,0", "shift 4,4", "mirrored", "mirrored, shift 0,4",
                                              "mirrored, shift 4,0", "mirrored, shift 4,4"])
        let shifted = variants[2].image  // rows and columns 0..<4 cut off
        XCTAssertEqual([shifted.width, shifted.height], [17, 14])
        XCTAssertEqual(shifted[0, 0, 1], image[4, 4, 1])
        XCTAssertEqual(shifted[16, 13, 2], image[20, 17, 2])
        let mirrored = variants[3].image
        XCTAssertEqual([mirrored.width, mirrored.height], [21, 18])
        XCTAssertEqual(mirrored[0, 5, 0], image[20, 5, 0])
        XCTAssertEqual(mirrored[20, 17, 2], image[0, 17, 2])
        let both = variants[4].image  // mirrored, then its first 4 columns cut off
        XCTAssertEqual(both[0, 3, 1], image[16, 3, 1])
        XCTAssertTrue(SymbolDataset.variants(of: Image(width: 11, height: 9, colorType: .rgb), stride: 8)
            .allSatisfy { $0.image.width >= 8 && $0.image.height >= 8 }, "shifts that leave less than a stride are skipped")

        let images = (0..<4).map { i in
            Image(width: 24, height: 16, colorType: .rgb, pixels: (0..<24 * 16 * 3).map { UInt8(($0 * 7 + i * 31) % 256) })
        }
        let vqvae = VQVAE(configuration: VQVAEConfiguration(stride: 8, width: 8, latentChannels: 4, groups: 2, codebookSize: 16), seed: 2)
        let plain = SymbolDataset(images: ImageDataset(images: images), model: vqvae, holdOutEvery: 2)
        let data = SymbolDataset(images: ImageDataset(images: images), model: vqvae, holdOutEvery: 2, augmentation: .mirrorAndShift)
        XCTAssertEqual(data.training.count, 2 * 8)
        XCTAssertEqual(data.heldOut, plain.heldOut, "held-out maps are the images as they are")
        XCTAssertEqual(data.training[0], plain.training[0])
        XCTAssertEqual(data.training[1].path, "(memory)#0#shift 0,4")
        let mirroredFirst = SymbolDataset.variants(of: images[0], stride: 8)[3].image
        XCTAssertEqual(data.training[4].symbols, vqvae.symbols(images: SymbolDataset.paddedTensor(mirroredFirst, stride: 8)),
                       "the mirrored image's own map")
    }

    func testTrainingLowersTheHeldOutRateAndWritesBothPriorsBesideTheVQVAE() throws {
        let data = dataset()
        var base = baseFile()
        base.tensors["prior.stale.weight"] = StoredTensor(floats: [1], shape: [1])  // an earlier prior is replaced
        base.metadata["prior_int.config"] = "stale"
        let trainer = PriorTrainer(run: run(steps: 120))
        let before = try XCTUnwrap(trainer.evaluate(dataset: data, integer: false))
        let output = folder + "/model.safetensors"
        let outcome = try trainer.train(dataset: data, base: base, output: output, protectedPaths: [], checkpointEvery: 50,
                                        logEvery: 10, evaluateEvery: 50, progress: try progress(120), shouldStop: { false })
        XCTAssertEqual(outcome, .finished)
        let after = try XCTUnwrap(trainer.evaluation)
        XCTAssertLessThan(after.floatBitsPerSymbol, before.floatBitsPerSymbol * 0.7, "\(before.floatBitsPerSymbol) → \(after.floatBitsPerSymbol)")
        let integerCost = try XCTUnwrap(after.integerCost)
        XCTAssertLessThan(abs(integerCost), 0.01)
        XCTAssertEqual(after.symbols, 2 * 2 * 12 * 12)
        XCTAssertEqual(after.floatBitsPerPixel, after.floatBits / Double(2 * 64 * 12 * 12))

        let file = try SafeTensorsFile(contentsOf: output)
        for (key, tensor) in baseFile().tensors { XCTAssertEqual(file.tensors[key], tensor, key) }
        XCTAssertNil(file.tensors["prior.stale.weight"])
        XCTAssertEqual(file.metadata["name"], "tiny")
        XCTAssertNotNil(file.metadata["vqvae.config"])
        let recipe = try XCTUnwrap(file.metadata["prior.recipe"])
        XCTAssertTrue(recipe.contains("\"steps\":120") && recipe.contains("\"seed\":7") && recipe.contains("\"commandLine\":\"test\""), recipe)
        XCTAssertNotNil(file.metadata["prior.metrics"])
        let float = try PixelCNNPrior(file: file)
        let integer = try IntegerPrior(file: file)
        XCTAssertEqual(float.configuration, configuration)
        XCTAssertEqual(integer.storedTensors(), trainer.prior.freeze().storedTensors())
        XCTAssertEqual(try Transforms.VQVAE(file: file).configuration.groups, 2)
        XCTAssertEqual(PriorTrainer.vqvaeChecksum(file), PriorTrainer.vqvaeChecksum(baseFile()))
        XCTAssertTrue(PriorTrainer.checkpointFolder(forOutput: output).exists)
    }

    func testInterruptedRunResumesToTheSameWeights() throws {
        let data = dataset()
        let base = baseFile()
        let straight = PriorTrainer(run: run(steps: 30))
        for _ in 0..<30 { try straight.trainStep(dataset: data) }

        let output = folder + "/resumed.safetensors"
        let first = PriorTrainer(run: run(steps: 30))
        var steps = 0
        let outcome = try first.train(dataset: data, base: base, output: output, protectedPaths: [], checkpointEvery: 1000,
                                      logEvery: 10, evaluateEvery: 1000, progress: try progress(30),
                                      shouldStop: { steps += 1; return steps > 12 })
        XCTAssertEqual(outcome, .interrupted(step: 12))
        let resumed = try PriorTrainer(resumingFrom: PriorTrainer.checkpointFolder(forOutput: output))
        XCTAssertEqual(resumed.step, 12)
        XCTAssertEqual(resumed.run, run(steps: 30))
        while resumed.step < 30 { try resumed.trainStep(dataset: data) }
        for (a, b) in zip(straight.prior.parameters, resumed.prior.parameters) {
            XCTAssertEqual(a.value, b.value, a.name)
        }
    }

    /// A warm start begins where the source prior ended: its held-out rate before the first step
    /// is the trained prior's, far below a fresh prior's; a prior of another shape is refused.
    func testWarmStartBeginsFromTheSourcePrior() throws {
        let data = dataset()
        let trained = PriorTrainer(run: run(steps: 120))
        for _ in 0..<120 { try trained.trainStep(dataset: data) }
        let trainedRate = try XCTUnwrap(trained.evaluate(dataset: data, integer: false)).floatBitsPerSymbol

        let fresh = PriorTrainer(run: run(steps: 40))
        let freshRate = try XCTUnwrap(fresh.evaluate(dataset: data, integer: false)).floatBitsPerSymbol
        let warm = PriorTrainer(run: run(steps: 40))
        try warm.startPrior(from: trained.prior)
        for (a, b) in zip(warm.prior.parameters, trained.prior.parameters) { XCTAssertEqual(a.value, b.value, a.name) }
        let warmRate = try XCTUnwrap(warm.evaluate(dataset: data, integer: false)).floatBitsPerSymbol
        XCTAssertEqual(warmRate, trainedRate, accuracy: 1e-9)
        XCTAssertLessThan(warmRate, freshRate * 0.7, "fresh \(freshRate), warm \(warmRate)")

        var other = configuration
        other.channels *= 2
        let stranger = PixelCNNPrior(configuration: other, seed: 1)
        XCTAssertThrowsError(try PriorTrainer(run: run(steps: 40)).startPrior(from: stranger)) { error in
            XCTAssertTrue(String(describing: error).contains("warm-start prior"), "\(error)")
        }
    }

    func testVQVAEChecksumIgnoresThePriorAndSeesTheVQVAE() {
        var file = baseFile()
        let checksum = PriorTrainer.vqvaeChecksum(file)
        file.tensors["prior_int.exp"] = StoredTensor(int32s: [1], shape: [1])
        XCTAssertEqual(PriorTrainer.vqvaeChecksum(file), checksum)
        var codebook = try! file.tensors["quantizer.codebook"]!.floats()
        codebook[0] += 1
        file.tensors["quantizer.codebook"] = StoredTensor(floats: codebook, shape: file.tensors["quantizer.codebook"]!.shape)
        XCTAssertNotEqual(PriorTrainer.vqvaeChecksum(file), checksum)
    }

    func testRunProblemsNameTheSetting() {
        var bad = run(steps: 10)
        bad.crop = 0
        XCTAssertEqual(bad.problem, "crop must be 1 to 1024 latent positions, found 0")
        bad = run(steps: 10)
        bad.configuration.channels = 7
        XCTAssertEqual(bad.problem, "prior configuration: channels is 7, expected a multiple of groups (2) up to 4096")
        XCTAssertNil(run(steps: 10).problem)
    }
}
