import SafeTensors
import XCTest
import Foundation

/// `vqcodec freeze` on a model file written by the PyTorch trainer (`Fixtures/parity/model.safetensors`:
/// a VQ-VAE and a float prior, no integer prior): the result codes images, freezing is
/// deterministic, and files it cannot freeze get a message naming what is missing.
final class FreezeCommandTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    var torchModel: String { CLI.fixtures.appendingPathComponent("parity/model.safetensors").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }

    func testFrozenTorchModelEncodesAndDecodes() throws {
        let noPrior = try CLI.run(["encode", photo, path("x.vqc"), "--model", torchModel])
        XCTAssertEqual(noPrior.status, 65, "unfrozen: not yet a codec model")

        let frozen = try CLI.run(["freeze", torchModel, path("codec.safetensors")])
        XCTAssertEqual(frozen.status, 0, frozen.stderr)
        XCTAssertTrue(frozen.stdout.hasPrefix("\(path("codec.safetensors")): "), frozen.stdout)
        XCTAssertTrue(frozen.stdout.contains("model \"parity-fixture\""), frozen.stdout)
        XCTAssertTrue(frozen.stdout.contains("integer prior frozen from the float prior (4 × 32 symbols, 2 blocks of 16 channels)"),
                      frozen.stdout)

        let encoded = try CLI.run(["encode", photo, path("x.vqc"), "--model", path("codec.safetensors")])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let decoded = try CLI.run(["decode", path("x.vqc"), path("x.png"), "--model", path("codec.safetensors")])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)

        // Deterministic: freezing the result again replaces its integer prior with the same bytes.
        let again = try CLI.run(["freeze", path("codec.safetensors"), path("again.safetensors")])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("replacing the file's earlier integer prior"), again.stdout)
        XCTAssertEqual(FileManager.default.contents(atPath: path("codec.safetensors")),
                       FileManager.default.contents(atPath: path("again.safetensors")))
    }

    /// Freezing is the very procedure `train prior` ends with: re-freezing a Swift-trained model
    /// reproduces its file byte for byte.
    func testFreezingASwiftTrainedModelReproducesItExactly() throws {
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: photo, toPath: path("data/photo.png"))
        let phase1 = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("m.safetensors"), "--steps", "3",
                                  "--stride", "8", "--width", "4", "--latent-channels", "4", "--groups", "2",
                                  "--codebook-size", "8", "--batch", "1", "--crop", "16"])
        XCTAssertEqual(phase1.status, 0, phase1.stderr)
        let phase2 = try CLI.run(["train", "prior", "--model", path("m.safetensors"), "--data", path("data"), "--steps", "3",
                                  "--batch", "2", "--crop", "4", "--channels", "4", "--blocks", "2", "--embedding", "2",
                                  "--head", "4", "--hold-out-every", "0"])
        XCTAssertEqual(phase2.status, 0, phase2.stderr)
        let frozen = try CLI.run(["freeze", path("m.safetensors"), path("refrozen.safetensors")])
        XCTAssertEqual(frozen.status, 0, frozen.stderr)
        let original = try XCTUnwrap(FileManager.default.contents(atPath: path("m.safetensors")))
        XCTAssertGreaterThan(original.count, 1000)
        XCTAssertEqual(FileManager.default.contents(atPath: path("refrozen.safetensors")), original)
    }

    /// A progressive model written by the PyTorch trainer (`Fixtures/parity/progressive.safetensors`)
    /// gets one integer prior per stage; everything else in the file is kept as it was.
    func testFreezingAProgressiveModelAddsIntegerStagePriors() throws {
        let input = CLI.fixtures.appendingPathComponent("parity/progressive.safetensors").path
        let frozen = try CLI.run(["freeze", input, path("p.safetensors")])
        XCTAssertEqual(frozen.status, 0, frozen.stderr)
        XCTAssertTrue(frozen.stdout.hasPrefix("\(path("p.safetensors")): "), frozen.stdout)
        XCTAssertTrue(frozen.stdout.hasSuffix("progressive model \"stage-parity-fixture\"; integer stage priors frozen from "
                                              + "the float stage priors (3 stages of 1 × 16, 2 × 16, 4 × 8 symbols, 2 conditioned "
                                              + "on the earlier stages)\n"), frozen.stdout)
        let original = try SafeTensorsFile(contentsOf: input)
        let result = try SafeTensorsFile(contentsOf: path("p.safetensors"))
        for (key, tensor) in original.tensors { XCTAssertEqual(result.tensors[key], tensor, key) }
        for (key, value) in original.metadata { XCTAssertEqual(result.metadata[key], value, key) }
        let added = Set(result.tensors.keys).subtracting(original.tensors.keys)
        XCTAssertTrue(added.allSatisfy { $0.hasPrefix("prior_int.stage") || $0.hasPrefix("prior_int.condition.stage") }, "\(added)")
        XCTAssertTrue(added.contains("prior_int.stage3.block1.condition.vertical.weight"))
        XCTAssertEqual(added.filter { $0.hasPrefix("prior_int.condition.") },
                       Set(["prior_int.condition.stage1.codebook", "prior_int.condition.stage2.codebook"]))
        XCTAssertNotNil(result.metadata["rvq.prior_int.config"])

        // Deterministic: freezing the result again replaces its integer stage priors with the same bytes.
        let again = try CLI.run(["freeze", path("p.safetensors"), path("again.safetensors")])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("replacing the file's earlier integer stage priors"), again.stdout)
        XCTAssertEqual(FileManager.default.contents(atPath: path("p.safetensors")),
                       FileManager.default.contents(atPath: path("again.safetensors")))

        // A phase-I progressive file has nothing to freeze.
        var phase1 = original
        phase1.tensors = original.tensors.filter { !$0.key.hasPrefix("prior.") }
        phase1.metadata["rvq.prior.config"] = nil
        try Data(phase1.serialized()).write(to: folder.appendingPathComponent("phase1.safetensors"))
        let nothing = try CLI.run(["freeze", path("phase1.safetensors"), path("out.safetensors")])
        XCTAssertEqual(nothing.status, 65)
        XCTAssertEqual(nothing.stderr, "vqcodec: \(path("phase1.safetensors")): the progressive model file has no stage priors "
                       + "(metadata \"rvq.prior.config\") to freeze; train them with Tools/train_torch/train.py rvq-prior "
                       + "--model \(path("phase1.safetensors"))\n")
    }

    /// `--weight-bits 8` stores every weight of the integer stage priors as I8 (half their size); the
    /// file still codes an image, and other widths are refused before anything is read.
    func testEightBitWeightsHalveTheIntegerPriorsAndStillCode() throws {
        let input = CLI.fixtures.appendingPathComponent("parity/progressive.safetensors").path
        let frozen = try CLI.run(["freeze", input, path("p8.safetensors"), "--weight-bits", "8"])
        XCTAssertEqual(frozen.status, 0, frozen.stderr)
        XCTAssertTrue(frozen.stdout.hasSuffix("2 conditioned on the earlier stages, 8-bit weights)\n"), frozen.stdout)
        XCTAssertEqual(try CLI.run(["freeze", input, path("p16.safetensors")]).status, 0)
        let eight = try SafeTensorsFile(contentsOf: path("p8.safetensors"))
        let sixteen = try SafeTensorsFile(contentsOf: path("p16.safetensors"))
        let weights = sixteen.tensors.filter { $0.key.hasPrefix("prior_int.stage") && $0.key.hasSuffix(".weight") }
        XCTAssertTrue(weights.keys.contains("prior_int.stage3.block1.condition.vertical.weight"))
        for (key, tensor) in weights {
            XCTAssertEqual(eight.tensors[key]?.dtype, .i8, key)
            XCTAssertEqual(eight.tensors[key]?.shape, tensor.shape, key)
        }
        XCTAssertEqual(weights.count, 3 * 2 * 4 + 2 * 2 * 2 + 3 * 2, "vertical, horizontal, link, output per block; conditions; head")
        XCTAssertEqual(eight.tensors["prior_int.stage2.embedding"]?.dtype, .i16, "embeddings stay I16")
        XCTAssertEqual(eight.tensors["prior_int.stage2.tanh"]?.dtype, .i16, "tables stay I16")
        XCTAssertEqual(eight.tensors["prior_int.condition.stage1.codebook"]?.dtype, .i16, "codebooks stay I16")
        for level in ["1", "3"] {
            let encoded = try CLI.run(["encode", photo, path("x\(level).vqc"), "--model", path("p8.safetensors"), "-q", level])
            XCTAssertEqual(encoded.status, 0, encoded.stderr)
            let decoded = try CLI.run(["decode", path("x\(level).vqc"), path("x\(level).png"), "--model", path("p8.safetensors")])
            XCTAssertEqual(decoded.status, 0, decoded.stderr)
        }

        let four = try CLI.run(["freeze", input, path("p4.safetensors"), "--weight-bits", "4"])
        XCTAssertEqual(four.status, 64)
        XCTAssertTrue(four.stderr.contains("--weight-bits must be 8 or 16, not 4"), four.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("p4.safetensors")))
    }

    func testFilesThatCannotBeFrozenAreRefusedWithTheReason() throws {
        let missing = try CLI.run(["freeze", path("none.safetensors"), path("out.safetensors")])
        XCTAssertEqual(missing.status, 66)
        XCTAssertEqual(missing.stderr, "vqcodec: \(path("none.safetensors")): no such file\n")

        let noVQVAE = CLI.fixtures.appendingPathComponent("models/python-written.safetensors").path
        let notAModel = try CLI.run(["freeze", noVQVAE, path("out.safetensors")])
        XCTAssertEqual(notAModel.status, 65)
        XCTAssertEqual(notAModel.stderr, "vqcodec: \(noVQVAE): the model file has no VQ-VAE (metadata \"vqvae.config\"); "
                       + "train one with Tools/train_torch/train.py vqvae or vqcodec train vqvae\n")

        // A VQ-VAE without a float prior: a phase-I file, here written by `train vqvae`.
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: photo, toPath: path("data/photo.png"))
        let phase1 = try CLI.run(["train", "vqvae", "--data", path("data"), "--out", path("m.safetensors"), "--steps", "2",
                                  "--stride", "8", "--width", "4", "--latent-channels", "4", "--groups", "2",
                                  "--codebook-size", "4", "--batch", "1", "--crop", "16"])
        XCTAssertEqual(phase1.status, 0, phase1.stderr)
        let noPrior = try CLI.run(["freeze", path("m.safetensors"), path("out.safetensors")])
        XCTAssertEqual(noPrior.status, 65)
        XCTAssertEqual(noPrior.stderr, "vqcodec: \(path("m.safetensors")): the model file has no float prior (metadata "
                       + "\"prior.config\") to freeze; train one with Tools/train_torch/train.py prior --model "
                       + "\(path("m.safetensors")) or vqcodec train prior\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.safetensors")))

        try FileManager.default.copyItem(atPath: torchModel, toPath: path("t.safetensors"))
        let before = FileManager.default.contents(atPath: path("t.safetensors"))
        let overInput = try CLI.run(["freeze", path("t.safetensors"), folder.path + "/./t.safetensors"])
        XCTAssertEqual(overInput.status, 73)
        XCTAssertTrue(overInput.stderr.contains("refusing to write the output over the input"), overInput.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: path("t.safetensors")), before)
    }
}
