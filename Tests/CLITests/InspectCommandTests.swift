import XCTest
import Foundation
import Images

/// `vqcodec inspect` and `vqcodec codebook`, run as a user runs them.
final class InspectCommandTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }
    var golden: String { CLI.fixtures.appendingPathComponent("golden/models/vq8-q4.vqc").path }

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func json(_ file: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
    }

    /// The heatmap's bits add up to the file's payload: Σ per-position bits (JSON `bits.total`)
    /// against 8 × the tile streams' bytes, within the range coder's flush, per tile at most 8 bits
    /// over and 32 bits under (`VQCodec.TileCost`), plus the JSON's rounding (5e-5 bits a value).
    func testBitsAddUpToThePayloadAndTheJSONHasItsFields() throws {
        let result = try CLI.run(["inspect", golden, "--json", path("k.json"), "--bits", path("bits.png"),
                                  "--symbols", path("symbols.png")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        XCTAssertTrue(result.stdout.hasPrefix("\(golden): 192 × 128 RGB, model vq8-q4, 24 × 16 positions at stride 8, "
                                              + "4 groups × 512 codes\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains("  group        bits     bpp   share   bits/position\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains("the costliest 10 % of positions (38) carry"), result.stdout)

        let document = try json(path("k.json"))
        XCTAssertEqual(Set(document.keys), ["bits", "codebookSize", "file", "fileBytes", "groups", "heatmapScaleMaxBitsPerPixel",
                                            "height", "latentHeight", "latentWidth", "model", "modelChecksum", "payloadBytes",
                                            "priorBits", "stride", "symbols", "tiles", "width"])
        XCTAssertEqual(document["model"] as? String, "vq8-q4")
        XCTAssertEqual(document["width"] as? Int, 192)
        XCTAssertEqual(document["latentWidth"] as? Int, 24)
        XCTAssertEqual(document["latentHeight"] as? Int, 16)
        let bits = try XCTUnwrap(document["bits"] as? [String: Any])
        XCTAssertEqual(Set(bits.keys), ["total", "groups"])
        let total = try XCTUnwrap(bits["total"] as? [Double])
        let perGroup = try XCTUnwrap(bits["groups"] as? [[Double]])
        let symbols = try XCTUnwrap(document["symbols"] as? [[Int]])
        XCTAssertEqual(total.count, 24 * 16)
        XCTAssertEqual(perGroup.map(\.count), [384, 384, 384, 384])
        XCTAssertEqual(symbols.map(\.count), [384, 384, 384, 384])
        XCTAssertTrue(symbols.joined().allSatisfy { (0..<512).contains($0) })
        for i in total.indices {
            XCTAssertEqual(total[i], perGroup.reduce(0) { $0 + $1[i] }, accuracy: 3e-4)
        }
        let tiles = try XCTUnwrap(document["tiles"] as? [[String: Any]])
        XCTAssertEqual(Set(tiles[0].keys), ["index", "top", "left", "height", "width", "bytes", "bits"])
        let streamBytes = tiles.reduce(0) { $0 + ($1["bytes"] as! Int) }
        XCTAssertEqual(streamBytes, document["payloadBytes"] as? Int)

        let sum = total.reduce(0, +)
        let payloadBits = 8 * Double(streamBytes)
        let rounding = 5e-5 * Double(total.count)
        XCTAssertLessThanOrEqual(payloadBits - sum, 8 * Double(tiles.count) + rounding + 0.01)
        XCTAssertGreaterThanOrEqual(payloadBits - sum, -32 * Double(tiles.count) - rounding - 0.01)
        XCTAssertEqual(sum, document["priorBits"] as! Double, accuracy: rounding)

        let heatmap = try PNG.read(path: path("bits.png"))
        XCTAssertEqual([heatmap.width, heatmap.height], [192, 128])
        let panels = try PNG.read(path: path("symbols.png"))
        XCTAssertEqual([panels.width, panels.height], [2 * 24 * 8 + 4, 2 * 16 * 8 + 4])
    }

    /// Missing file, not a .vqc file, unknown model, unreadable --model: the same message and exit
    /// status as `decode` gives for the same input, and no output.
    func testBadInputsFailAsDecodeDoes() throws {
        XCTAssertEqual(try CLI.run(["encode", photo, path("p.vqc"), "--model", model]).status, 0)
        let cases: [([String], Int32)] = [
            ([path("missing.vqc")], 66),
            ([photo], 65),
            ([path("p.vqc")], 67),
            ([path("p.vqc"), "--model", path("nope.safetensors")], 66),
            ([CLI.fixtures.appendingPathComponent("malformed/truncated.vqc").path, "--model", model], 70),
        ]
        for (arguments, status) in cases {
            let inspected = try CLI.run(["inspect"] + arguments + ["--json", path("out.json")])
            let decoded = try CLI.run(["decode", arguments[0], path("out.png")] + arguments.dropFirst())
            XCTAssertEqual(inspected.status, status, "\(arguments): \(inspected.stderr)")
            XCTAssertEqual(decoded.status, status, "\(arguments): \(decoded.stderr)")
            XCTAssertEqual(inspected.stderr, decoded.stderr, "\(arguments)")
            XCTAssertEqual(inspected.stdout, "")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.json")), "no output on failure")
        }
        let unknown = try CLI.run(["inspect", path("p.vqc")])
        XCTAssertTrue(unknown.stderr.contains("was encoded with model \"tiny-test\""), unknown.stderr)
        let overInput = try CLI.run(["inspect", path("p.vqc"), "--model", model, "--bits", path("p.vqc")])
        XCTAssertEqual(overInput.status, 73, overInput.stderr)
    }

    func testCodebookCountsUseAndWritesPictureAndJSON() throws {
        let result = try CLI.run(["codebook", "--model", model, "--data", photo, "--out", path("cb.png"),
                                  "--json", path("cb.json"), "--columns", "4"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("model tiny-test: stride 8, 2 groups × 16 codes; 1 image, 48 positions\n"),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("  group  codes used  perplexity  never used  typical PSNR  near-duplicate pairs  codes in them  codes to spare\n"))
        let document = try json(path("cb.json"))
        XCTAssertEqual(Set(document.keys), ["model", "stride", "codebookSize", "images", "positions", "thresholdDB",
                                            "tilePixels", "groups"])
        let groups = try XCTUnwrap(document["groups"] as? [[String: Any]])
        XCTAssertEqual(groups.count, 2)
        for group in groups {
            XCTAssertEqual(Set(group.keys), ["group", "counts", "codesUsed", "perplexity", "neverUsed", "referenceCode",
                                             "orderInPicture", "nearDuplicates", "codesToSpare", "typicalPSNR"])
            let counts = try XCTUnwrap(group["counts"] as? [Int])
            XCTAssertEqual(counts.reduce(0, +), 48)
            XCTAssertEqual((group["neverUsed"] as? [Int])?.count, counts.filter { $0 == 0 }.count)
            XCTAssertEqual(Set(try XCTUnwrap(group["orderInPicture"] as? [Int])), Set(0..<16))
        }
        let picture = try PNG.read(path: path("cb.png"))
        // Two groups of 16 tiles of 32 pixels, 4 per row: 4 rows each, 2-pixel gaps, 12 between groups.
        XCTAssertEqual([picture.width, picture.height], [4 * 32 + 3 * 2, 2 * (4 * 32 + 3 * 2) + 12])
    }

    func testCodebookUsageErrors() throws {
        let missing = try CLI.run(["codebook", "--model", model, "--data", path("none")])
        XCTAssertEqual(missing.status, 66)
        XCTAssertEqual(missing.stderr, "vqcodec: \(path("none")): no such file\n")
        let both = try CLI.run(["codebook", "-q", "1", "--model", model, "--data", photo])
        XCTAssertEqual(both.status, 64)
        XCTAssertTrue(both.stderr.contains("give at most one of -q and --model"), both.stderr)
        let level = try CLI.run(["codebook", "-q", "9", "--data", photo])
        XCTAssertEqual(level.status, 64, level.stderr)
    }
}
