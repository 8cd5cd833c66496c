import SafeTensors
import XCTest
import Foundation
import Engine

/// `vqcodec train vqvae` and `train prior` end to end on a tiny model: the trained file encodes
/// and decodes, an interrupted run leaves a checkpoint that resumes, and bad options are refused.
final class TrainCommandTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = try CLI.temporaryFolder()
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path,
                                         toPath: folder.appendingPathComponent("data/photo.png").path)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    let vqvaeOptions = ["--stride", "8", "--width", "8", "--latent-channels", "8", "--groups", "2", "--codebook-size", "16",
                        "--batch", "2", "--crop", "32", "--seed", "3", "--log-every", "50", "--name", "cli-trained"]

    func testTrainedModelEncodesAndDecodes() throws {
        let phase1 = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("m.safetensors"), "--steps", "60"] + vqvaeOptions)
        XCTAssertEqual(phase1.status, 0, phase1.stderr)
        XCTAssertTrue(phase1.stdout.contains("step 50/60"), phase1.stdout)
        XCTAssertTrue(phase1.stdout.contains("codes "), "progress shows codebook use: \(phase1.stdout)")

        let noPrior = try CLI.run(["encode", CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path, path("x.vqc"),
                                   "--model", path("m.safetensors")])
        XCTAssertEqual(noPrior.status, 65)
        XCTAssertTrue(noPrior.stderr.contains("the model has no integer prior"), noPrior.stderr)

        let phase2 = try CLI.run(["train", "prior", "--model", path("m.safetensors"), "--data", path("data"), "--steps", "40",
                                  "--batch", "2", "--crop", "4", "--channels", "8", "--blocks", "1", "--embedding", "4",
                                  "--head", "8", "--hold-out-every", "0", "--log-every", "20"])
        XCTAssertEqual(phase2.status, 0, phase2.stderr)
        let encoded = try CLI.run(["encode", CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path, path("x.vqc"),
                                   "--model", path("m.safetensors"), "--psnr"])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let decoded = try CLI.run(["decode", path("x.vqc"), path("x.png")])
        XCTAssertEqual(decoded.status, 0, "model found beside the file: \(decoded.stderr)")

        // A prior warm-started from the one just trained takes its shape without the options,
        // records where it started, and refuses another shape.
        let warm = try CLI.run(["train", "prior", "--model", path("m.safetensors"), "--data", path("data"), "--out", path("w.safetensors"),
                                "--init-from", path("m.safetensors"), "--steps", "5", "--batch", "2", "--crop", "4",
                                "--hold-out-every", "0", "--log-every", "5", "--name", "cli-trained-p2"])
        XCTAssertEqual(warm.status, 0, warm.stderr)
        XCTAssertTrue(warm.stdout.contains("C 8, 1 blocks"), warm.stdout)
        XCTAssertEqual(try SafeTensorsFile(contentsOf: path("w.safetensors")).metadata["name"], "cli-trained-p2",
                       "--name names the output; the --model file keeps its own")
        XCTAssertEqual(try SafeTensorsFile(contentsOf: path("m.safetensors")).metadata["name"], "cli-trained")
        let badName = try CLI.run(["train", "prior", "--model", path("m.safetensors"), "--data", path("data"), "--out", path("v.safetensors"),
                                   "--name", "naïve", "--steps", "5"])
        XCTAssertEqual(badName.status, 64, badName.stderr)
        let recipe = try XCTUnwrap(SafeTensorsFile(contentsOf: path("w.safetensors")).metadata["prior.recipe"])
        XCTAssertTrue(recipe.contains(#""initialPrior":"#) && recipe.contains("m.safetensors"), recipe)
        let reshaped = try CLI.run(["train", "prior", "--model", path("m.safetensors"), "--data", path("data"), "--out", path("v.safetensors"),
                                    "--init-from", path("m.safetensors"), "--channels", "16", "--steps", "5"])
        XCTAssertEqual(reshaped.status, 64, reshaped.stderr)
        XCTAssertTrue(reshaped.stderr.contains("warm-start prior"), reshaped.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("v.safetensors")))

        // A decoder-only fine-tune of that model, then its prior continued on the (unchanged) symbols.
        let lone = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("d.safetensors"), "--steps", "20",
                                "--decoder-only"] + vqvaeOptions)
        XCTAssertEqual(lone.status, 64, lone.stderr)
        XCTAssertTrue(lone.stderr.contains("--init-from"), lone.stderr)
        let decoderOnly = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("d.safetensors"), "--steps", "20",
                                       "--decoder-only", "--init-from", path("m.safetensors")] + vqvaeOptions)
        XCTAssertEqual(decoderOnly.status, 0, decoderOnly.stderr)
        let vqRecipe = try XCTUnwrap(SafeTensorsFile(contentsOf: path("d.safetensors")).metadata["vqvae.recipe"])
        XCTAssertTrue(vqRecipe.contains(#""decoderOnly":true"#), vqRecipe)
        let continued = try CLI.run(["train", "prior", "--model", path("d.safetensors"), "--data", path("data"),
                                     "--init-from", path("m.safetensors"), "--steps", "5", "--batch", "2", "--crop", "4",
                                     "--hold-out-every", "0", "--log-every", "5", "--augment"])
        XCTAssertEqual(continued.status, 0, continued.stderr)
        XCTAssertTrue(continued.stdout.contains("8 training maps"), "one photo, mirrored and shifted: \(continued.stdout)")
        let priorRecipe = try XCTUnwrap(SafeTensorsFile(contentsOf: path("d.safetensors")).metadata["prior.recipe"])
        XCTAssertTrue(priorRecipe.contains(#""augmentation":"mirrorAndShift""#), priorRecipe)
        let reencoded = try CLI.run(["encode", CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path, path("d.vqc"),
                                     "--model", path("d.safetensors")])
        XCTAssertEqual(reencoded.status, 0, reencoded.stderr)
        let redecoded = try CLI.run(["decode", path("d.vqc"), path("d.png")])
        XCTAssertEqual(redecoded.status, 0, redecoded.stderr)
    }

    func testInterruptWritesACheckpointAndLeavesNoTemporaries() throws {
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent("vqcodec")
        process.arguments = ["train", "vqvae", "--data", path("data"), "--out", path("m.safetensors"), "--steps", "100000",
                             "--checkpoint-every", "100000"] + vqvaeOptions
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until training is under way (the log file appears with the first progress line).
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: path("m.safetensors.log.csv")) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.3)
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("m.safetensors")), "model written on interrupt")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".partial") }
        XCTAssertEqual(leftovers, [], "no temporaries left")

        let again = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("m.safetensors"), "--steps", "100000"] + vqvaeOptions)
        XCTAssertEqual(again.status, 64, "a leftover checkpoint needs --resume: \(again.stderr)")
    }

    func testBadOptionsAreRefused() throws {
        let inside = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("data/m.safetensors"), "--steps", "1"])
        XCTAssertEqual(inside.status, 64)
        XCTAssertTrue(inside.stderr.contains("lies inside the data folder"), inside.stderr)
        let empty = folder.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let noImages = try CLI.run(["train", "vqvae", "--data", empty.path, "--out", path("m.safetensors"), "--steps", "1"])
        XCTAssertEqual(noImages.status, 65, noImages.stderr)
        let noModel = try CLI.run(["train", "prior", "--model", path("missing.safetensors"), "--data", path("data")])
        XCTAssertNotEqual(noModel.status, 0)
        XCTAssertTrue(noModel.stderr.contains("missing.safetensors"), noModel.stderr)
    }
}
