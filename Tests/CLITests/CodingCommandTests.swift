import SafeTensors
import XCTest
import Foundation
import Images
import Engine

/// `vqcodec encode` and `decode` with the tiny fixture model, run as a user runs them.
final class CodingCommandTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func testEncodeReportsPSNRThatDecodeDelivers() throws {
        let encoded = try CLI.run(["encode", photo, path("p.vqc"), "--model", model, "--psnr"])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let report = try XCTUnwrap(encoded.stdout.range(of: #"PSNR ([0-9.]+) dB"#, options: .regularExpression))
        let reported = Double(encoded.stdout[report].dropFirst(5).dropLast(3))!

        let decoded = try CLI.run(["decode", path("p.vqc"), path("p.png"), "--model", model])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertTrue(decoded.stdout.contains("64 × 48 RGB"), decoded.stdout)

        let original = try pixels(photo), back = try pixels(path("p.png"))
        XCTAssertEqual(original.count, back.count)
        var sum = 0.0
        for i in original.indices { let d = Double(original[i]) - Double(back[i]); sum += d * d }
        let psnr = 10 * log10(255 * 255 / (sum / Double(original.count)))
        XCTAssertEqual(psnr, reported, accuracy: 0.005, "encode --psnr must describe the decoded PNG")

        let info = try CLI.run(["info", path("p.vqc")])
        XCTAssertEqual(info.status, 0)
        XCTAssertTrue(info.stdout.contains("model:   tiny-test"), info.stdout)
    }

    /// `--effort 2` writes a file any decoder reads, and what encode reports is what decode gives;
    /// the options are checked before anything runs.
    func testEffortEncodesAFileThePlainDecoderReads() throws {
        let encoded = try CLI.run(["encode", photo, path("e.vqc"), "--model", model, "--effort", "2", "--lambda", "5", "--psnr"])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let report = try XCTUnwrap(encoded.stdout.range(of: #"PSNR ([0-9.]+) dB"#, options: .regularExpression))
        let reported = Double(encoded.stdout[report].dropFirst(5).dropLast(3))!
        let decoded = try CLI.run(["decode", path("e.vqc"), path("e.png"), "--model", model])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        let original = try pixels(photo), back = try pixels(path("e.png"))
        var sum = 0.0
        for i in original.indices { let d = Double(original[i]) - Double(back[i]); sum += d * d }
        XCTAssertEqual(10 * log10(255 * 255 / (sum / Double(original.count))), reported, accuracy: 0.005)

        for (arguments, message) in [(["--effort", "4"], "--effort must be 0 to 3"),
                                     (["--nearest-codes", "--effort", "1"], "--nearest-codes is the plain quantiser"),
                                     (["--nearest-codes", "--lambda", "5"], "--nearest-codes ignores bits"),
                                     (["--effort", "1", "--lambda=-1"], "--lambda must be")] {
            let refused = try CLI.run(["encode", photo, path("x.vqc"), "--model", model] + arguments)
            XCTAssertEqual(refused.status, 64, "\(arguments): \(refused.stderr)")
            XCTAssertTrue(refused.stderr.contains(message), refused.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.vqc")))
        }
    }

    /// `decode --png-compression` changes the PNG's size, never its pixels; levels outside 0–9
    /// are refused before anything is written.
    func testPNGCompressionLevelsGiveTheSamePixels() throws {
        XCTAssertEqual(try CLI.run(["encode", photo, path("p.vqc"), "--model", model]).status, 0)
        var sizes: [Int] = []
        var images: [[UInt8]] = []
        for level in ["0", "6", "9"] {
            let decoded = try CLI.run(["decode", path("p.vqc"), path("l\(level).png"), "--model", model, "--png-compression", level])
            XCTAssertEqual(decoded.status, 0, decoded.stderr)
            sizes.append(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path("l\(level).png"))[.size] as? Int))
            images.append(try pixels(path("l\(level).png")))
        }
        XCTAssertEqual(images[0], images[1])
        XCTAssertEqual(images[0], images[2])
        XCTAssertGreaterThan(sizes[0], sizes[1], "level 0 stores the rows")
        let refused = try CLI.run(["decode", path("p.vqc"), path("x.png"), "--model", model, "--png-compression", "10"])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("--png-compression must be between 0 and 9"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.png")))
    }

    func testDecodeFindsTheModelBesideTheFile() throws {
        try FileManager.default.copyItem(atPath: model, toPath: path("tiny.safetensors"))
        XCTAssertEqual(try CLI.run(["encode", photo, path("p.vqc"), "--model", model]).status, 0)
        let decoded = try CLI.run(["decode", path("p.vqc"), path("p.png")])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
    }

    func testDecodeWithoutAnyModelSaysWhichModelIsNeeded() throws {
        XCTAssertEqual(try CLI.run(["encode", photo, path("p.vqc"), "--model", model]).status, 0)
        let decoded = try CLI.run(["decode", path("p.vqc"), path("p.png")])
        XCTAssertEqual(decoded.status, 67)
        XCTAssertTrue(decoded.stderr.contains("was encoded with model \"tiny-test\""), decoded.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("p.png")), "no output on failure")
    }

    func testRefusesToOverwriteItsInput() throws {
        try FileManager.default.copyItem(atPath: photo, toPath: path("in.png"))
        let result = try CLI.run(["encode", path("in.png"), path("in.png"), "--model", model])
        XCTAssertEqual(result.status, 73)
        XCTAssertTrue(result.stderr.contains("refusing to write the output over the input"), result.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("in.png"))),
                       try Data(contentsOf: URL(fileURLWithPath: photo)))
    }

    func testBadInputsGiveClearErrorsAndNoOutput() throws {
        let notPNG = try CLI.run(["encode", CLI.fixtures.appendingPathComponent("golden/small.vqc").path, path("x.vqc"), "--model", model])
        XCTAssertEqual(notPNG.status, 65, notPNG.stderr)
        let missingModel = try CLI.run(["encode", photo, path("x.vqc"), "--model", path("nope.safetensors")])
        XCTAssertEqual(missingModel.status, 66, missingModel.stderr)
        XCTAssertTrue(missingModel.stderr.contains("nope.safetensors"), missingModel.stderr)
        let transparent = try CLI.run(["encode", CLI.fixtures.appendingPathComponent("images/rgba8-transparent.png").path,
                                       path("x.vqc"), "--model", model])
        XCTAssertEqual(transparent.status, 65, transparent.stderr)
        let damaged = try CLI.run(["decode", CLI.fixtures.appendingPathComponent("malformed/truncated.vqc").path,
                                   path("x.png"), "--model", model])
        XCTAssertEqual(damaged.status, 70, damaged.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [], "nothing written")
    }

    func pixels(_ file: String) throws -> [UInt8] { try PNG.read(path: file).pixels }
}

/// `vqcodec rd` writes CompressAI-format JSON and a CSV with a row per image and a mean per model.
final class RDCommandTests: XCTestCase {
    func testRDWritesJSONAndCSV() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for name in ["photo-64x48.png", "photo-gray-40x24.png"] {
            try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("images/\(name)"), to: images.appendingPathComponent(name))
        }
        let model = CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path
        let json = folder.appendingPathComponent("rd.json").path, csv = folder.appendingPathComponent("rd.csv").path
        let result = try CLI.run(["rd", images.path, "--model", model, "--json", json, "--csv", csv, "--name", "tiny"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        XCTAssertEqual(object["name"] as? String, "tiny")
        let results = try XCTUnwrap(object["results"] as? [String: Any])
        for key in ["psnr-rgb", "mse", "bpp", "encoding_time", "decoding_time"] {
            XCTAssertEqual((results[key] as? [Double])?.count, 1, key)
        }
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 1 + 2 + 1, "header, two images, one mean")
        XCTAssertTrue(rows[3].hasPrefix("tiny-test,MEAN,"), String(rows[3]))
        // The mean bpp in the JSON is the mean of the per-image rows.
        let bpps = rows[1...2].map { Double($0.split(separator: ",")[5])! }
        XCTAssertEqual((results["bpp"] as! [Double])[0], (bpps[0] + bpps[1]) / 2, accuracy: 1e-12)
        // Every code used by an image is used by the folder: codes_used_all ≥ each image's count.
        let perImage = rows[1...2].map { $0.split(separator: ",", omittingEmptySubsequences: false)[11].split(separator: "/").map { Int($0)! } }
        let all = rows[3].split(separator: ",", omittingEmptySubsequences: false)[14].split(separator: "/").map { Int($0)! }
        for g in all.indices { XCTAssertGreaterThanOrEqual(all[g], max(perImage[0][g], perImage[1][g])) }
        XCTAssertEqual((results["codebook_use"] as? [Double])?.count, 1)
    }

    func testTwoModelsWithOneNameKeepTheirOwnRowsAndMeans() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("images/photo-64x48.png"),
                                         to: images.appendingPathComponent("photo.png"))
        let model = CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path
        let csv = folder.appendingPathComponent("rd.csv").path
        let result = try CLI.run(["rd", images.path, "--model", model, "--model", model, "--csv", csv])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.count, 1 + 2 + 2, "header, one image per model, one mean per model")
        XCTAssertTrue(rows[1].hasPrefix("tiny-test#1,photo.png,"), rows[1])
        XCTAssertTrue(rows[2].hasPrefix("tiny-test#2,photo.png,"), rows[2])
        // Each mean is over its own model's single image, not over both.
        func field(_ row: String, _ index: Int) -> Substring { row.split(separator: ",", omittingEmptySubsequences: false)[index] }
        XCTAssertEqual(field(rows[3], 5), field(rows[1], 5))
        XCTAssertEqual(field(rows[4], 5), field(rows[2], 5))
        XCTAssertTrue(rows[4].hasPrefix("tiny-test#2,MEAN,"), rows[4])
    }
}

/// A model file whose integer prior is damaged is the user's input problem (exit 65), named as such.
final class DamagedModelTests: XCTestCase {
    func testModelWithoutItsPriorTablesIsInvalidInput() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = try SafeTensorsFile(contentsOf: CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path)
        let table = try XCTUnwrap(source.tensors.keys.first { $0.hasPrefix("prior_int.") && $0.hasSuffix("exp") },
                                  "the tiny model stores an exp table")
        var tensors = source.tensors
        tensors[table] = nil
        let damaged = folder.appendingPathComponent("damaged.safetensors").path
        try SafeTensorsFile(metadata: source.metadata, tensors: tensors).write(to: damaged)
        let photo = CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path
        let result = try CLI.run(["encode", photo, folder.appendingPathComponent("x.vqc").path, "--model", damaged])
        XCTAssertEqual(result.status, 65, result.stderr)
        XCTAssertTrue(result.stderr.contains(table), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.vqc").path))
    }
}
