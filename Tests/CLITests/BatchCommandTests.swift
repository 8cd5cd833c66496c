import SeededRandom
import XCTest
import Foundation
import Engine
import Images

/// `encode` and `decode` over many files with `--out-dir` and `--jobs`: every file equals what
/// one job produces, and a bad file is reported without stopping the others.
final class BatchCommandTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    func listing(_ name: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path(name)).sorted() }

    /// 40 seeded PNGs of 8 × 8 to 71 × 55 pixels, gray and RGB, in `images/`.
    func writeImages() throws -> [String] {
        try FileManager.default.createDirectory(atPath: path("images"), withIntermediateDirectories: true)
        var generator = SplitMix64(seed: 11)
        return try (0..<40).map { index in
            let width = 8 + Int(generator.next() % 64), height = 8 + Int(generator.next() % 48)
            let colorType: Image.ColorType = index % 3 == 0 ? .gray : .rgb
            let pixels = (0..<(width * height * colorType.channels)).map { i in
                UInt8(truncatingIfNeeded: i / 7 + Int(generator.next() % 40))
            }
            let file = path("images/img\(index).png")
            try PNG.write(Image(width: width, height: height, colorType: colorType, pixels: pixels), to: file)
            return file
        }
    }

    func testJobsGiveTheSameFilesAsOneJob() throws {
        let images = try writeImages()
        let parallel = try CLI.run(["encode"] + images + ["--out-dir", path("A"), "--jobs", "4", "--model", model, "--tile-size", "3"])
        XCTAssertEqual(parallel.status, 0, parallel.stderr)
        XCTAssertEqual(parallel.stdout.split(separator: "\n").count, 40, "one line per file")
        let sequential = try CLI.run(["encode"] + images + ["--out-dir", path("B"), "--jobs", "1", "--model", model, "--tile-size", "3"])
        XCTAssertEqual(sequential.status, 0, sequential.stderr)
        XCTAssertEqual(try listing("A"), (0..<40).map { "img\($0).vqc" }.sorted())
        XCTAssertEqual(try listing("A"), try listing("B"))
        for name in try listing("A") {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("A/" + name))),
                           try Data(contentsOf: URL(fileURLWithPath: path("B/" + name))), name)
        }
        // The one-file form writes the same bytes too.
        let single = try CLI.run(["encode", images[5], path("one.vqc"), "--model", model, "--tile-size", "3"])
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("one.vqc"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("A/img5.vqc"))))

        let files = try listing("A").map { path("A/" + $0) }
        let decodedParallel = try CLI.run(["decode"] + files + ["--out-dir", path("C"), "--jobs", "4", "--model", model])
        XCTAssertEqual(decodedParallel.status, 0, decodedParallel.stderr)
        let decodedSequential = try CLI.run(["decode"] + files + ["--out-dir", path("D"), "--model", model])
        XCTAssertEqual(decodedSequential.status, 0, decodedSequential.stderr)
        XCTAssertEqual(try listing("C").count, 40)
        for name in try listing("C") {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("C/" + name))),
                           try Data(contentsOf: URL(fileURLWithPath: path("D/" + name))), name)
        }
    }

    func testAFailingFileIsReportedAndTheOthersAreWritten() throws {
        var images = Array(try writeImages().prefix(6))
        FileManager.default.createFile(atPath: path("images/broken.png"), contents: Data("not a png".utf8))
        images.insert(path("images/broken.png"), at: 2)
        images.append(path("images/missing.png"))
        let result = try CLI.run(["encode"] + images + ["--out-dir", path("A"), "--jobs", "3", "--model", model])
        XCTAssertEqual(result.status, 65, "the first failed file's code: \(result.stderr)")
        let errors = result.stderr.split(separator: "\n").sorted()
        XCTAssertEqual(errors, [
            "vqcodec: \(path("images/broken.png")): not a PNG file (it does not start with the PNG signature); give a PNG image",
            "vqcodec: \(path("images/missing.png")): no such file",
            "vqcodec: 2 of 8 files failed",
        ])
        XCTAssertEqual(try listing("A"), (0..<6).map { "img\($0).vqc" })
    }

    func testSalvagedFilesAreWrittenAndCounted() throws {
        let images = Array(try writeImages().prefix(2))
        XCTAssertEqual(try CLI.run(["encode"] + images + ["--out-dir", path("A"), "--model", model, "--tile-size", "1"]).status, 0)
        var damaged = try Data(contentsOf: URL(fileURLWithPath: path("A/img1.vqc")))
        damaged[damaged.count - 1] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: path("A/img1.vqc")))
        let strict = try CLI.run(["decode", path("A/img0.vqc"), path("A/img1.vqc"), "--out-dir", path("B"), "--model", model])
        XCTAssertEqual(strict.status, 72)
        XCTAssertTrue(strict.stderr.hasSuffix("vqcodec: 1 of 2 files failed\n"), strict.stderr)
        XCTAssertEqual(try listing("B"), ["img0.png"])
        let salvaged = try CLI.run(["decode", path("A/img0.vqc"), path("A/img1.vqc"), "--out-dir", path("C"), "--model", model,
                                    "--salvage", "--jobs", "2"])
        XCTAssertEqual(salvaged.status, 74)
        XCTAssertTrue(salvaged.stderr.hasSuffix("vqcodec: 1 of 2 files were salvaged\n"), salvaged.stderr)
        XCTAssertEqual(try listing("C"), ["img0.png", "img1.png"])
    }

    func testUsageErrors() throws {
        let images = try writeImages()
        let twoOutputs = try CLI.run(["encode", images[0], images[1], images[2], "--model", model])
        XCTAssertEqual(twoOutputs.status, 64)
        XCTAssertTrue(twoOutputs.stderr.contains("several inputs need --out-dir DIR"), twoOutputs.stderr)
        try FileManager.default.createDirectory(atPath: path("other"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: images[0], toPath: path("other/img0.png"))
        let clash = try CLI.run(["encode", images[0], path("other/img0.png"), "--out-dir", path("A"), "--model", model])
        XCTAssertEqual(clash.status, 64)
        XCTAssertTrue(clash.stderr.contains("would both write \(path("A/img0.vqc"))"), clash.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("A")))
    }
}
