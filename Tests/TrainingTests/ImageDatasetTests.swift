import SeededRandom
import Foundation
import XCTest
import Engine
import Images
@testable import Training

final class ImageDatasetTests: XCTestCase {
    func testLoadsEveryPNGSkipsUnreadableOnesAndConvertsGrayToRGB() throws {
        let folder = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["photo-64x48.png", "photo-gray-40x24.png", "not-png.png"] {
            try FileManager.default.copyItem(atPath: TrainingFixtures.image(name), toPath: folder + "/" + name)
        }
        try Data("notes".utf8).write(to: URL(fileURLWithPath: folder + "/README.txt"))
        let dataset = try ImageDataset(folder: folder)
        XCTAssertEqual(dataset.paths, [folder + "/photo-64x48.png", folder + "/photo-gray-40x24.png"])
        XCTAssertEqual(dataset.skipped.map(\.path), [folder + "/not-png.png"])
        XCTAssertTrue(dataset.skipped[0].reason.contains("not a PNG file"), dataset.skipped[0].reason)
        XCTAssertEqual(dataset.pixelCount, 64 * 48 + 40 * 24)
        let gray = try PNG.read(path: TrainingFixtures.image("photo-gray-40x24.png"))
        XCTAssertEqual(dataset.images[1].colorType, .rgb)
        XCTAssertEqual(dataset.images[1].converted(to: .gray), gray, "gray is replicated into three equal channels")
    }

    func testFoldersWithoutImagesAreErrorsThatSaySo() throws {
        let folder = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertThrowsError(try ImageDataset(folder: folder)) { error in
            XCTAssertEqual("\(error)", "\(folder): the folder has no .png files to train on")
        }
        try FileManager.default.copyItem(atPath: TrainingFixtures.image("truncated.png"), toPath: folder + "/a.png")
        XCTAssertThrowsError(try ImageDataset(folder: folder)) { error in
            XCTAssertEqual("\(error)", "\(folder): none of its 1 .png files could be read (see the messages above)")
        }
        XCTAssertThrowsError(try ImageDataset(folder: folder + "/missing")) { error in
            XCTAssertEqual(error as? ImageDatasetError, .folderNotFound(folder + "/missing"))
        }
        XCTAssertThrowsError(try ImageDataset(folder: folder + "/a.png")) { error in
            XCTAssertEqual(error as? ImageDatasetError, .notAFolder(folder + "/a.png"))
        }
    }

    /// A 5×3 RGB image whose sample (x, y, c) is 10·x + 60·y + c.
    let small: Image = {
        var image = Image(width: 5, height: 3, colorType: .rgb)
        for y in 0..<3 { for x in 0..<5 { for c in 0..<3 { image[x, y, c] = UInt8(10 * x + 60 * y + c) } } }
        return image
    }()

    func testCropsArePixelsOver255WithEdgePaddingAndFlips() {
        let dataset = ImageDataset(images: [small])
        let crop = 6
        var plain = [Float](repeating: -1, count: 3 * crop * crop)
        dataset.fill(&plain, item: 0, image: small, top: -1, left: -2, crop: crop, flip: false)
        var flipped = plain
        dataset.fill(&flipped, item: 0, image: small, top: -1, left: -2, crop: crop, flip: true)
        for c in 0..<3 { for y in 0..<crop { for x in 0..<crop {
            let sx = min(max(x - 2, 0), 4), sy = min(max(y - 1, 0), 2)
            XCTAssertEqual(plain[(c * crop + y) * crop + x], Float(10 * sx + 60 * sy + c) / 255, "x \(x) y \(y) c \(c)")
            XCTAssertEqual(flipped[(c * crop + y) * crop + (crop - 1 - x)], Float(10 * sx + 60 * sy + c) / 255)
        } } }
    }

    func testBatchesAreReproducibleAndStayInsideTheImage() {
        var image = Image(width: 40, height: 30, colorType: .rgb)
        for y in 0..<30 { for x in 0..<40 { for c in 0..<3 { image[x, y, c] = UInt8((x * 7 + y * 3 + c) % 256) } } }
        let dataset = ImageDataset(images: [image, small])
        var g1 = SplitMix64(seed: 11), g2 = SplitMix64(seed: 11), g3 = SplitMix64(seed: 12)
        let a = dataset.batch(size: 16, crop: 8, using: &g1)
        XCTAssertEqual(a.shape, [16, 3, 8, 8])
        XCTAssertEqual(a, dataset.batch(size: 16, crop: 8, using: &g2))
        XCTAssertNotEqual(a, dataset.batch(size: 16, crop: 8, using: &g3))
        XCTAssertTrue(a.data.allSatisfy { v in v >= 0 && v <= 1 && (v * 255).rounded() / 255 == v }, "values are pixel / 255")
        var generator = SplitMix64(seed: 5)
        for _ in 0..<200 {
            let top = ImageDataset.offset(extent: 30, crop: 8, using: &generator)
            XCTAssertTrue((0...22).contains(top))
            let inside = ImageDataset.offset(extent: 3, crop: 8, using: &generator)
            XCTAssertTrue((-5...0).contains(inside), "a small image lands anywhere inside the crop")
        }
    }
}

/// Paths and scratch folders for the VQ-VAE training tests.
enum TrainingFixtures {
    /// Fixtures/images/ in the package root.
    static func image(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/images/\(name)").path
    }

    /// A fresh empty folder under the system's temporary folder, removed by the caller.
    static func temporaryFolder() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vqcodec-training-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Collects what a TrainingProgress writes.
final class CapturedOutput: @unchecked Sendable {
    var text = ""
    func write(_ s: String) { text += s }
}
