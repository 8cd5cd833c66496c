import Foundation
import VQCodec
import Images
import XCTest

/// The commands with a progressive model (quality level k = its first k stages) and the
/// `.vqc` version 2 files it writes, run as a user runs them.
final class ProgressiveRDTests: XCTestCase {
    func testProgressiveModelGivesOneCurvePointPerQualityLevel() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("images/photo-64x48.png"),
                                         to: images.appendingPathComponent("photo.png"))
        let progressive = CLI.fixtures.appendingPathComponent("models/progressive-tiny.safetensors").path
        let oneStage = CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path
        let csv = folder.appendingPathComponent("rd.csv").path, json = folder.appendingPathComponent("rd.json").path
        let result = try CLI.run(["rd", images.path, "--model", oneStage, "--model", progressive, "--csv", csv, "--json", json])
        XCTAssertEqual(result.status, 0, result.stderr)
        let table = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(table.count, 1 + 4, result.stdout)
        XCTAssertEqual(table[1...].map { String($0.prefix(24)).trimmingCharacters(in: .whitespaces) },
                       ["tiny-test", "stage-parity-fixture q1", "stage-parity-fixture q2", "stage-parity-fixture q3"])

        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.count, 1 + 4 + 4, "header, one image per curve point, one mean per curve point")
        func fields(_ row: String) -> [Substring] { row.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows[1...4].map { String(fields($0)[0]) },
                       ["tiny-test", "stage-parity-fixture q1", "stage-parity-fixture q2", "stage-parity-fixture q3"])
        // More stages, a larger file (the fixture's weights are not trained, so nothing is said of its MSE).
        let bytes = rows[2...4].map { Int(fields($0)[4])! }
        XCTAssertTrue(bytes[0] < bytes[1] && bytes[1] < bytes[2], "\(bytes)")
        XCTAssertTrue(rows[8].hasPrefix("stage-parity-fixture q3,MEAN,"), rows[8])

        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        XCTAssertEqual((object["models"] as? [String])?.count, 4)
        XCTAssertEqual(((object["results"] as? [String: Any])?["bpp"] as? [Double])?.count, 4)
    }
}

/// encode, decode and truncate with the frozen tiny progressive model (3 stages).
final class ProgressiveCodingTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/progressive-tiny.safetensors").path }
    var oneStageModel: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-192x128.png").path }
    let pixelCount = 192.0 * 128.0

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    func bytes(_ file: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: file)) }
    func bpp(_ file: String) throws -> String { String(format: "%.4f", 8 * Double(try bytes(file).count) / pixelCount) }

    /// The code search runs stage by stage, so a searched file cut to k stages is the searched
    /// encode at k stages, byte for byte, and it decodes with the plain decoder.
    func testEffortKeepsTruncationExact() throws {
        try encode("all.vqc", stages: nil, extra: ["--effort", "1", "--lambda", "8"])
        try encode("two.vqc", stages: 2, extra: ["--effort", "1", "--lambda", "8"])
        try encode("plain.vqc", stages: 2)
        let cut = try CLI.run(["truncate", path("all.vqc"), path("cut.vqc"), "-q", "2"])
        XCTAssertEqual(cut.status, 0, cut.stderr)
        XCTAssertEqual(try bytes(path("cut.vqc")), try bytes(path("two.vqc")), "cut to 2 stages = searched encode at 2 stages")
        XCTAssertNotEqual(try bytes(path("two.vqc")), try bytes(path("plain.vqc")), "the search changed some codes")
        let decoded = try CLI.run(["decode", path("two.vqc"), path("two.png"), "--model", model])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
    }

    /// Encodes the photo at `stages` stages (all when nil) into `name`.
    @discardableResult
    func encode(_ name: String, stages: Int?, extra: [String] = []) throws -> CLIResult {
        let result = try CLI.run(["encode", photo, path(name), "--model", model] + (stages.map { ["-q", "\($0)"] } ?? []) + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result
    }

    func testEachQualityLevelEncodesAndDecodesWithThePSNRItReports() throws {
        var sizes: [Int] = []
        for stages in 1...3 {
            let encoded = try encode("q\(stages).vqc", stages: stages, extra: ["--psnr"])
            let line = #"^\#(path("q\(stages).vqc")): [0-9]+ bytes, [0-9.]+ bpp \(prior ideal [0-9.]+ bpp\), \#(stages) of 3 stages, 1 tiles, [0-9.]+ s, PSNR [0-9.]+ dB \(MSE [0-9.]+\)\n$"#
            XCTAssertNotNil(encoded.stdout.range(of: line, options: .regularExpression), encoded.stdout)
            sizes.append(try bytes(path("q\(stages).vqc")).count)

            let decoded = try CLI.run(["decode", path("q\(stages).vqc"), path("q\(stages).png"), "--model", model])
            XCTAssertEqual(decoded.status, 0, decoded.stderr)
            XCTAssertTrue(decoded.stdout.hasPrefix("\(path("q\(stages).png")): 192 × 128 RGB, \(stages) of \(stages) stages, "
                                                   + "\(try bpp(path("q\(stages).vqc"))) bpp, "), decoded.stdout)
            let reported = try XCTUnwrap(encoded.stdout.range(of: #"PSNR ([0-9.]+) dB"#, options: .regularExpression))
            let original = try PNG.read(path: photo).pixels, back = try PNG.read(path: path("q\(stages).png")).pixels
            var sum = 0.0
            for i in original.indices { let d = Double(original[i]) - Double(back[i]); sum += d * d }
            let psnr = 10 * log10(255 * 255 / (sum / Double(original.count)))
            XCTAssertEqual(psnr, Double(encoded.stdout[reported].dropFirst(5).dropLast(3))!, accuracy: 0.005)
        }
        XCTAssertTrue(sizes[0] < sizes[1] && sizes[1] < sizes[2], "\(sizes)")
        // Without -q: every stage.
        try encode("all.vqc", stages: nil)
        XCTAssertEqual(try bytes(path("all.vqc")), try bytes(path("q3.vqc")))
    }

    func testTruncateGivesTheDirectFileOfEachLevel() throws {
        try encode("all.vqc", stages: nil)
        let full = try bytes(path("all.vqc")).count
        for stages in 1...3 {
            try encode("q\(stages).vqc", stages: stages)
            let cut = try CLI.run(["truncate", path("all.vqc"), path("cut\(stages).vqc"), "-q", "\(stages)"])
            XCTAssertEqual(cut.status, 0, cut.stderr)
            XCTAssertEqual(cut.stderr, "")
            let size = try bytes(path("cut\(stages).vqc")).count
            XCTAssertEqual(cut.stdout, "\(path("cut\(stages).vqc")): \(stages) of 3 stages, \(size) bytes, \(try bpp(path("cut\(stages).vqc"))) bpp "
                           + "(from \(full) bytes, \(try bpp(path("all.vqc"))) bpp)\n")
            XCTAssertEqual(try bytes(path("cut\(stages).vqc")), try bytes(path("q\(stages).vqc")), "cut \(stages) = encode -q \(stages)")
            for name in ["cut\(stages)", "q\(stages)"] {
                let decoded = try CLI.run(["decode", path("\(name).vqc"), path("\(name).png"), "--model", model])
                XCTAssertEqual(decoded.status, 0, decoded.stderr)
            }
            XCTAssertEqual(try bytes(path("cut\(stages).png")), try bytes(path("q\(stages).png")))
            // decode -q of the full file gives the same image.
            let partial = try CLI.run(["decode", path("all.vqc"), path("partial\(stages).png"), "--model", model, "-q", "\(stages)"])
            XCTAssertEqual(partial.status, 0, partial.stderr)
            XCTAssertTrue(partial.stdout.hasPrefix("\(path("partial\(stages).png")): 192 × 128 RGB, \(stages) of 3 stages, "
                                                   + "\(try bpp(path("q\(stages).vqc"))) bpp, "), partial.stdout)
            XCTAssertEqual(try bytes(path("partial\(stages).png")), try bytes(path("q\(stages).png")))
        }
    }

    func testTargetBppKeepsTheMostStagesThatFit() throws {
        for stages in 1...3 { try encode("q\(stages).vqc", stages: stages) }
        let rates = try (1...3).map { 8 * Double(try bytes(path("q\($0).vqc")).count) / pixelCount }
        let listed = rates.enumerated().map { "q\($0.offset + 1) \(String(format: "%.3f", $0.element))" }.joined(separator: ", ")
        let target = (rates[1] + rates[2]) / 2
        let targetText = String(format: "%.3f", target)

        let fits = try encode("t.vqc", stages: nil, extra: ["--target-bpp", "\(target)"])
        XCTAssertTrue(fits.stdout.hasPrefix("quality 2 of 3 fits \(targetText) bpp (\(listed) bpp)\n\(path("t.vqc")): "), fits.stdout)
        XCTAssertEqual(try bytes(path("t.vqc")), try bytes(path("q2.vqc")))

        let none = try encode("n.vqc", stages: nil, extra: ["--target-bpp", "0.01"])
        XCTAssertEqual(none.stderr, "vqcodec: \(photo): no quality level fits 0.010 bpp (\(listed) bpp); using the lowest, quality 1\n")
        XCTAssertEqual(try bytes(path("n.vqc")), try bytes(path("q1.vqc")))

        let cut = try CLI.run(["truncate", path("q3.vqc"), path("c.vqc"), "--target-bpp", "\(target)"])
        XCTAssertEqual(cut.status, 0, cut.stderr)
        XCTAssertEqual(try bytes(path("c.vqc")), try bytes(path("q2.vqc")))
        let tooSmall = try CLI.run(["truncate", path("q3.vqc"), path("c2.vqc"), "--target-bpp", "0.01"])
        XCTAssertEqual(tooSmall.status, 64)
        XCTAssertEqual(tooSmall.stderr, "vqcodec: \(path("q3.vqc")): no quality level fits 0.010 bpp: quality 1 alone is "
                       + "\(String(format: "%.3f", rates[0])) bpp\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("c2.vqc")))
    }

    func testSalvageDecodesTheIntactLeadingStagesOfACutFile() throws {
        try encode("q2.vqc", stages: 2)
        try encode("all.vqc", stages: nil)
        let full = try bytes(path("all.vqc"))
        try full.prefix(full.count - 5).write(to: folder.appendingPathComponent("cut.vqc"))
        let truncatedMessage = "the file is truncated: stage 3, tile 0 ends at byte \(full.count) but the file has only "
            + "\(full.count - 5) bytes; it was cut short (an interrupted copy or download?); stages 1 to 2 are complete and can be decoded"

        let strict = try CLI.run(["decode", path("cut.vqc"), path("strict.png"), "--model", model])
        XCTAssertEqual(strict.status, 70)
        XCTAssertEqual(strict.stderr, "vqcodec: \(path("cut.vqc")): \(truncatedMessage)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("strict.png")))

        let salvaged = try CLI.run(["decode", path("cut.vqc"), path("salvaged.png"), "--model", model, "--salvage"])
        XCTAssertEqual(salvaged.status, 74)
        XCTAssertTrue(salvaged.stdout.hasPrefix("\(path("salvaged.png")): 192 × 128 RGB, 2 of 3 stages, \(try bpp(path("q2.vqc"))) bpp, "),
                      salvaged.stdout)
        XCTAssertTrue(salvaged.stdout.hasSuffix(" s, salvaged\n"), salvaged.stdout)
        XCTAssertEqual(salvaged.stderr, "vqcodec: \(path("cut.vqc")): stage 3 not decoded: \(truncatedMessage)\n"
                       + "vqcodec: \(path("cut.vqc")): salvaged: decoded 2 of 3 stages; \(path("salvaged.png")) written\n")
        let direct = try CLI.run(["decode", path("q2.vqc"), path("q2.png"), "--model", model])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        XCTAssertEqual(try bytes(path("salvaged.png")), try bytes(path("q2.png")))

        // Damage past the stages asked for does not matter; truncate keeps intact leading stages too.
        let two = try CLI.run(["decode", path("cut.vqc"), path("two.png"), "--model", model, "--salvage", "-q", "2"])
        XCTAssertEqual(two.status, 0, two.stderr)
        let cut = try CLI.run(["truncate", path("cut.vqc"), path("cut2.vqc"), "-q", "2"])
        XCTAssertEqual(cut.status, 0, cut.stderr)
        XCTAssertEqual(try bytes(path("cut2.vqc")), try bytes(path("q2.vqc")))
    }

    func testDecodeFindsTheProgressiveModelBesideTheFileOrOnTheSearchPath() throws {
        try encode("q2.vqc", stages: 2)
        let besideFolder = folder.appendingPathComponent("beside")
        try FileManager.default.createDirectory(at: besideFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: path("q2.vqc"), toPath: besideFolder.appendingPathComponent("q2.vqc").path)
        try FileManager.default.copyItem(atPath: model, toPath: besideFolder.appendingPathComponent("m.safetensors").path)
        let beside = try CLI.run(["decode", besideFolder.appendingPathComponent("q2.vqc").path, path("beside.png")])
        XCTAssertEqual(beside.status, 0, beside.stderr)
        let searched = try CLI.run(["decode", path("q2.vqc"), path("searched.png")],
                                   environment: ["VQCODEC_MODEL_PATH": CLI.fixtures.appendingPathComponent("models").path])
        XCTAssertEqual(searched.status, 0, searched.stderr)
        XCTAssertEqual(try bytes(path("beside.png")), try bytes(path("searched.png")))
        let missing = try CLI.run(["decode", path("q2.vqc"), path("missing.png")], environment: ["VQCODEC_MODEL_PATH": ""])
        XCTAssertEqual(missing.status, 67, missing.stderr)
    }

    func testManyFilesAtOneQualityLevel() throws {
        let small = CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path
        let encoded = try CLI.run(["encode", photo, small, "--out-dir", path("vqc"), "--model", model, "-q", "2", "--jobs", "2"])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        XCTAssertEqual(encoded.stdout.components(separatedBy: "2 of 3 stages").count, 3, encoded.stdout)
        try encode("q2.vqc", stages: 2)
        XCTAssertEqual(try bytes(path("vqc/photo-192x128.vqc")), try bytes(path("q2.vqc")))
        let decoded = try CLI.run(["decode", path("vqc/photo-192x128.vqc"), path("vqc/photo-64x48.vqc"), "--out-dir", path("png"),
                                   "--model", model, "-q", "1"])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertEqual(decoded.stdout.components(separatedBy: "1 of 2 stages").count, 3, decoded.stdout)
    }

    func testRefusalsAreWordForWord() throws {
        let oneStageQ = try CLI.run(["encode", photo, path("x.vqc"), "--model", oneStageModel, "-q", "1"])
        XCTAssertEqual(oneStageQ.status, 64)
        XCTAssertEqual(oneStageQ.stderr, "vqcodec: \(oneStageModel): -q needs a progressive model; tiny-test has one quality level\n")
        let oneStageTarget = try CLI.run(["encode", photo, path("x.vqc"), "--model", oneStageModel, "--target-bpp", "1"])
        XCTAssertEqual(oneStageTarget.status, 64)
        XCTAssertEqual(oneStageTarget.stderr, "vqcodec: \(oneStageModel): --target-bpp needs a progressive model; tiny-test has one quality level\n")
        let four = try CLI.run(["encode", photo, path("x.vqc"), "--model", model, "-q", "4"])
        XCTAssertEqual(four.status, 64)
        XCTAssertEqual(four.stderr, "vqcodec: \(model): stage-parity-fixture has quality levels (stages) 1 to 3, not 4\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.vqc")))

        let v1 = try CLI.run(["encode", photo, path("v1.vqc"), "--model", oneStageModel])
        XCTAssertEqual(v1.status, 0, v1.stderr)
        let cutV1 = try CLI.run(["truncate", path("v1.vqc"), path("c.vqc"), "-q", "1"])
        XCTAssertEqual(cutV1.status, 65)
        XCTAssertEqual(cutV1.stderr, "vqcodec: \(path("v1.vqc")): truncate needs a .vqc file of format version 2 (written by a "
                       + "progressive model); this file is format version 1 and has one quality level\n")
        let decodeV1 = try CLI.run(["decode", path("v1.vqc"), path("v1.png"), "--model", oneStageModel, "-q", "1"])
        XCTAssertEqual(decodeV1.status, 65)
        XCTAssertEqual(decodeV1.stderr, "vqcodec: \(path("v1.vqc")): -q needs a .vqc file of format version 2 (written by a "
                       + "progressive model); this file is format version 1 and has one quality level\n")

        try encode("q2.vqc", stages: 2)
        let decodeThree = try CLI.run(["decode", path("q2.vqc"), path("x.png"), "--model", model, "-q", "3"])
        XCTAssertEqual(decodeThree.status, 64)
        XCTAssertEqual(decodeThree.stderr, "vqcodec: \(path("q2.vqc")): the file holds quality levels (stages) 1 to 2, not 3\n")
        let cutThree = try CLI.run(["truncate", path("q2.vqc"), path("c.vqc"), "-q", "3"])
        XCTAssertEqual(cutThree.status, 64)
        XCTAssertEqual(cutThree.stderr, "vqcodec: \(path("q2.vqc")): the file holds quality levels (stages) 1 to 2, not 3\n")
        let overInput = try CLI.run(["truncate", path("q2.vqc"), path("q2.vqc"), "-q", "1"])
        XCTAssertEqual(overInput.status, 73)
        XCTAssertEqual(overInput.stderr, "vqcodec: \(path("q2.vqc")): refusing to write the output over the input; choose another output path\n")
        let wrongKind = try CLI.run(["decode", path("q2.vqc"), path("x.png"), "--model", oneStageModel])
        XCTAssertEqual(wrongKind.status, 67, wrongKind.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("c.vqc")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.png")))
    }
}

/// `vqcodec info` of version-2 files: exact output, the CRC of every stream, exit codes as for version 1.
final class ProgressiveInfoTests: XCTestCase {
    func fixture(_ path: String) -> String { CLI.fixtures.appendingPathComponent(path).path }

    let description = """
          image:   70 × 45 RGB (source: 8 bits per sample)
          model:   vqc-test-rvq (checksum 0123456789abcdef)
          latent:  6 × 9 positions at stride 8
          tiles:   2 × 3 = 6 of 4 × 4 positions
          size:    603 bytes (header 285, payload 318), 1.5314 bits per pixel
          stages:  quality level K is the file cut after stage K (vqcodec truncate -q K)
          stage  groups×codes  stream bytes  file bytes  file bpp
              1       1 × 512            16          136     0.3454
              2       2 × 512            40          231     0.5867
              3       4 × 512            85          371     0.9422
              4       8 × 512           177          603     1.5314

        """

    func testGoldenFileIsDescribedAndEveryStreamVerified() throws {
        let path = fixture("golden/progressive.vqc")
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        XCTAssertEqual(result.stdout, "\(path): vqcodec image, format version 2 (progressive: 4 quality levels)\n" + description
                       + "  all 24 stream checksums verified (4 stages × 6 tiles)\n")

        let tiles = try CLI.run(["info", path, "--tiles"])
        XCTAssertEqual(tiles.status, 0, tiles.stderr)
        let lines = tiles.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("  stage  tile  rows×cols at  offset  length  crc32       status"), tiles.stdout)
        XCTAssertEqual(lines.filter { $0.hasSuffix("  ok") }.count, 24, tiles.stdout)
        XCTAssertTrue(lines.contains("      1     0      4×4 @0,0     285       5  4b4b6828  ok"), tiles.stdout)
        XCTAssertTrue(lines.contains("      4     5      2×1 @4,8     594       9  713d7cd0  ok"), tiles.stdout)
    }

    func testDamagedStreamIsNamedWithChecksumCode() throws {
        let path = fixture("malformed/progressive-bad-crc.vqc")
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 72)
        XCTAssertEqual(result.stderr, "vqcodec: \(path): stage 3, tile 2 is damaged: its stored CRC-32 is 0x1E8F2B54 but its "
                       + "bytes give 0x4E967CCB; the other tiles and the earlier stages are not affected\n")
        XCTAssertTrue(result.stdout.hasPrefix("\(path): vqcodec image, format version 2 (progressive: 4 quality levels)\n" + description),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("      3     2      4×1 @0,8     374       6  1e8f2b54  DAMAGED: CRC 4e967ccb ≠ stored 1e8f2b54\n"),
                      result.stdout)
    }

    func testTruncatedFileShowsWhatSurvivedAndFailsWithTruncationCode() throws {
        let path = fixture("malformed/progressive-truncated.vqc")
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 70)
        XCTAssertEqual(result.stderr, "vqcodec: \(path): the file is truncated: stage 3, tile 3 ends at byte 397 but the file has "
                       + "only 388 bytes; it was cut short (an interrupted copy or download?); stages 1 to 2 are complete and can be decoded\n")
        XCTAssertTrue(result.stdout.contains("      3     2      4×1 @0,8     374       6  1e8f2b54  ok\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains("      3     3      2×4 @4,0     380      17  ca5da01f  MISSING: file cut short\n"), result.stdout)
    }

    func testNewerVersionIsRefusedWithItsOwnCode() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: fixture("golden/progressive.vqc")))
        bytes[8] = 3  // the version field, little-endian u16 after the 8-byte signature
        let path = folder.appendingPathComponent("v3.vqc").path
        try bytes.write(to: URL(fileURLWithPath: path))
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 71)
        XCTAssertEqual(result.stderr, "vqcodec: \(path): this .vqc file uses format version 3, but this program reads only "
                       + "versions 1 and 2; decode it with a newer vqcodec\n")
    }
}

/// Commands that read one-stage models and version-1 files only refuse the others in a sentence.
final class OneStageOnlyCommandTests: XCTestCase {
    func testInspectCodebookAndEvalRefuseProgressiveInputs() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = CLI.fixtures.appendingPathComponent("models/progressive-tiny.safetensors").path
        let images = CLI.fixtures.appendingPathComponent("images").path
        let photo = CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path
        let v2 = folder.appendingPathComponent("p.vqc").path, v1 = folder.appendingPathComponent("o.vqc").path
        XCTAssertEqual(try CLI.run(["encode", photo, v2, "--model", model]).status, 0)
        XCTAssertEqual(try CLI.run(["encode", photo, v1, "--model",
                                    CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path]).status, 0)
        let cases: [([String], String)] = [
            (["inspect", v2], "vqcodec: \(v2): inspect reads .vqc files of format version 1 only; this file is format version 2 "
                + "(progressive); vqcodec info lists its stages\n"),
            (["inspect", v1, "--model", model], "vqcodec: \(model): inspect reads one-stage models only; this is a progressive "
                + "model; it did not encode a version-1 file\n"),
            (["codebook", "--model", model, "--data", images], "vqcodec: \(model): codebook reads one-stage models only; "
                + "this is a progressive model\n"),
            (["eval", "--model", model, images], "vqcodec: \(model): eval reads one-stage models only; this is a progressive "
                + "model; vqcodec rd DIR --model M evaluates each of its quality levels\n"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 65, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr, message)
            XCTAssertEqual(result.stdout, "")
        }
    }
}

/// The shipped progressive model is listed by `vqcodec models`, found by its name with `--model`,
/// and its files decode without `--model` (found in the catalogue by the name in the header).
final class ShippedProgressiveModelTests: XCTestCase {
    func testTheShippedProgressiveModelIsListedAndUsedByName() throws {
        let catalogue = try ShippedModels.levels()
        let name = try XCTUnwrap(catalogue.progressive.first?.model, "the catalogue lists a progressive model")
        let listed = try CLI.run(["models"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains("progressive model \(name):"), listed.stdout)
        XCTAssertTrue(listed.stdout.contains("vqcodec encode --model \(name) -q K"), listed.stdout)

        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let photo = CLI.fixtures.appendingPathComponent("images/photo-192x128.png").path
        let coded = folder.appendingPathComponent("p.vqc").path, decoded = folder.appendingPathComponent("p.png").path
        let encoded = try CLI.run(["encode", photo, coded, "--model", name, "-q", "2"])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        XCTAssertTrue(encoded.stdout.contains("2 of 4 stages"), encoded.stdout)
        let back = try CLI.run(["decode", coded, decoded])
        XCTAssertEqual(back.status, 0, back.stderr)
        XCTAssertTrue(back.stdout.contains("2 of 2 stages"), back.stdout)
        let missing = try CLI.run(["encode", photo, coded, "--model", "no-such-model"])
        XCTAssertEqual(missing.status, 66, missing.stderr)
    }
}
