import XCTest
import Foundation
import VQCodec

/// The shipped quality levels as a user meets them: `encode` with no model, `-q`, `--target-bpp`,
/// `decode` finding the level's model by itself, and `models`.
final class QualityLevelTests: XCTestCase {
    var folder: URL!
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Real bpp printed by `encode` ("…: N bytes, X bpp …").
    func bitsPerPixel(_ stdout: String) throws -> Double {
        let match = try XCTUnwrap(stdout.range(of: #"bytes, [0-9.]+ bpp"#, options: .regularExpression), stdout)
        return try XCTUnwrap(Double(stdout[match].dropFirst(7).dropLast(4)))
    }

    func modelName(of file: String) throws -> String {
        try VQCodec.readHeader(path: file).modelName
    }

    func testEncodeWithoutFlagsUsesTheDefaultLevelAndDecodeFindsIt() throws {
        let catalogue = try ShippedModels.levels()
        let encoded = try CLI.run(["encode", photo, path("p.vqc")])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        XCTAssertEqual(try modelName(of: path("p.vqc")), catalogue.level(catalogue.defaultQuality)?.model)
        // No --model, no $VQCODEC_MODEL_PATH, no model beside the file: the shipped level is found.
        let decoded = try CLI.run(["decode", path("p.vqc"), path("p.png")])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertEqual(try PNG.read(path: path("p.png")).width, 64)
    }

    func testEachLevelSpendsMoreBitsThanTheOneBelow() throws {
        let catalogue = try ShippedModels.levels()
        var rates: [Double] = []
        for level in catalogue.levels {
            let encoded = try CLI.run(["encode", "-q", String(level.quality), photo, path("q\(level.quality).vqc")])
            XCTAssertEqual(encoded.status, 0, encoded.stderr)
            XCTAssertEqual(try modelName(of: path("q\(level.quality).vqc")), level.model)
            rates.append(try bitsPerPixel(encoded.stdout))
        }
        XCTAssertEqual(rates, rates.sorted(), "quality levels must be ordered by rate: \(rates)")
        XCTAssertEqual(Set(rates).count, rates.count, "every level must give a different rate: \(rates)")

        // --target-bpp between two levels' rates takes the lower one; above the top, the top one.
        for index in 0..<(rates.count - 1) {
            let target = (rates[index] + rates[index + 1]) / 2
            let fitted = try CLI.run(["encode", "--target-bpp", String(target), photo, path("t.vqc")])
            XCTAssertEqual(fitted.status, 0, fitted.stderr)
            XCTAssertTrue(fitted.stdout.contains("quality \(index + 1) fits"), fitted.stdout)
            XCTAssertLessThanOrEqual(try bitsPerPixel(fitted.stdout), target)
        }
        let top = try CLI.run(["encode", "--target-bpp", String(rates.last! * 2), photo, path("t.vqc")])
        XCTAssertTrue(top.stdout.contains("quality \(rates.count) fits"), top.stdout)

        // Below the lowest level: the lowest, with a message, still a success.
        let tooSmall = try CLI.run(["encode", "--target-bpp", String(rates[0] / 2), photo, path("low.vqc")])
        XCTAssertEqual(tooSmall.status, 0, tooSmall.stderr)
        XCTAssertTrue(tooSmall.stderr.contains("no quality level fits"), tooSmall.stderr)
        XCTAssertEqual(try modelName(of: path("low.vqc")), catalogue.levels[0].model)
    }

    func testManyFilesWithARateTargetAndBackWithoutNamingAModel() throws {
        let gray = CLI.fixtures.appendingPathComponent("images/photo-gray-40x24.png").path
        let encoded = try CLI.run(["encode", "--target-bpp", "100", photo, gray, "--out-dir", path("vqc"), "--jobs", "2"])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let top = try ShippedModels.levels().levels.last!.model
        for name in ["photo-64x48", "photo-gray-40x24"] {
            XCTAssertEqual(try modelName(of: path("vqc/\(name).vqc")), top, "a generous budget takes the top level")
        }
        let decoded = try CLI.run(["decode", path("vqc/photo-64x48.vqc"), path("vqc/photo-gray-40x24.vqc"),
                                   "--out-dir", path("png"), "--jobs", "2"])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertEqual(try PNG.read(path: path("png/photo-gray-40x24.png")).width, 40)
    }

    func testBadLevelChoicesAreUsageErrors() throws {
        let catalogue = try ShippedModels.levels()
        let missing = try CLI.run(["encode", "-q", String(catalogue.levels.count + 1), photo, path("x.vqc")])
        XCTAssertEqual(missing.status, 64)
        XCTAssertTrue(missing.stderr.contains("there is no quality level"), missing.stderr)
        let both = try CLI.run(["encode", "-q", "1", "--target-bpp", "0.5", photo, path("x.vqc")])
        XCTAssertEqual(both.status, 64)
        let negative = try CLI.run(["encode", "--target-bpp", "-1", photo, path("x.vqc")])
        XCTAssertEqual(negative.status, 64)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.vqc")))
    }

    /// A model that stops being a level stays in the catalogue as retired: files made with it
    /// still decode without naming it, `-q` no longer offers it, and `models` says so.
    func testFilesOfARetiredModelStillDecode() throws {
        let shipped = folder.appendingPathComponent("shipped"), files = folder.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: shipped, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let tiny = CLI.fixtures.appendingPathComponent("models/tiny.safetensors")
        let name = try CodecModel(path: tiny.path).name
        try FileManager.default.copyItem(at: tiny, to: shipped.appendingPathComponent("\(name).safetensors"))
        try FileManager.default.copyItem(at: tiny, to: shipped.appendingPathComponent("current.safetensors"))
        let vqc = files.appendingPathComponent("old.vqc").path
        let encoded = try CLI.run(["encode", "--model", tiny.path, photo, vqc])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)

        func catalogue(retired: Bool) throws {
            let entry = #"{"model": "\#(name)", "reason": "replaced by quality 1"}"#
            let json = #"{"default": 1, "levels": [{"quality": 1, "model": "current", "summary": "s"}], "retired": ["#
                + (retired ? entry : "") + "]}"
            try Data(json.utf8).write(to: shipped.appendingPathComponent("levels.json"))
        }
        let environment = ["VQCODEC_SHIPPED_MODELS": shipped.path, "VQCODEC_MODEL_PATH": ""]
        try catalogue(retired: false)
        let unknown = try CLI.run(["decode", vqc, path("a.png")], environment: environment)
        XCTAssertEqual(unknown.status, 67, "neither a level nor retired: the model is unknown. \(unknown.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("a.png")))

        try catalogue(retired: true)
        let decoded = try CLI.run(["decode", vqc, path("b.png")], environment: environment)
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertEqual(try PNG.read(path: path("b.png")).width, 64)
        let listed = try CLI.run(["models"], environment: environment)
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains("retired") && listed.stdout.contains(name), listed.stdout)
        let levels = try CLI.run(["encode", "-q", "2", photo, path("x.vqc")], environment: environment)
        XCTAssertEqual(levels.status, 64, "a retired model is not a level")

        // A catalogue naming a model twice is refused with the reason.
        let twice = #"{"default": 1, "levels": [{"quality": 1, "model": "current", "summary": "s"}], "#
            + #""retired": [{"model": "current", "reason": "r"}]}"#
        try Data(twice.utf8).write(to: shipped.appendingPathComponent("levels.json"))
        let refused = try CLI.run(["models"], environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("listed twice"), refused.stderr)
    }

    func testModelsListsEveryLevel() throws {
        let catalogue = try ShippedModels.levels()
        let listed = try CLI.run(["models"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        for level in catalogue.levels {
            XCTAssertTrue(listed.stdout.contains(level.model), listed.stdout)
        }
        XCTAssertTrue(listed.stdout.contains("\(catalogue.defaultQuality)*"), listed.stdout)
    }
}
