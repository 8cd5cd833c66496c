import SeededRandom
import XCTest
import Foundation
import Engine
@testable import VQCodec

/// Many images coded at once through the library, sharing one model: every file and every
/// decoded image is byte for byte what coding them one at a time gives.
final class ConcurrencyTests: XCTestCase {
    /// 300 seeded images from 1 × 1 to 48 × 40 pixels, gray and RGB, noise over gradients.
    static func images(count: Int = 300) -> [Image] {
        var generator = SplitMix64(seed: 7)
        return (0..<count).map { index in
            let width = 1 + Int(generator.next() % 48), height = 1 + Int(generator.next() % 40)
            let colorType: Image.ColorType = index % 4 == 0 ? .gray : .rgb
            var pixels = [UInt8](repeating: 0, count: width * height * colorType.channels)
            for i in pixels.indices {
                let x = (i / colorType.channels) % width, y = (i / colorType.channels) / width
                pixels[i] = UInt8(truncatingIfNeeded: x * 5 + y * 3 + Int(generator.next() % 32))
            }
            return Image(width: width, height: height, colorType: colorType, pixels: pixels)
        }
    }

    func testConcurrentCodingMatchesSequentialCoding() throws {
        let model = try CodecModel(path: SalvageTests.root.appendingPathComponent("Fixtures/models/tiny.safetensors").path)
        let images = Self.images()
        var options = VQCodec.EncodeOptions()
        options.tileSize = 2  // several tiles even in small images
        options.threads = 1
        let files = try images.map { try VQCodec.encode($0, model: model, options: options).bytes }
        let decoded = try files.map { try VQCodec.decode($0, model: model, threads: 1).image }

        let results = ResultSlots(count: images.count)
        let concurrent = { var o = options; o.threads = 2; return o }()
        DispatchQueue.concurrentPerform(iterations: images.count) { index in
            results.store(index, Result {
                let bytes = try VQCodec.encode(images[index], model: model, options: concurrent).bytes
                return (bytes, try VQCodec.decode(bytes, model: model, threads: 2).image)
            })
        }
        for index in images.indices {
            let (bytes, image) = try results.value(index)
            XCTAssertEqual(bytes, files[index], "image \(index): file differs from the sequential encode")
            XCTAssertEqual(image, decoded[index], "image \(index): decoded image differs from the sequential decode")
        }
    }
}

private final class ResultSlots: @unchecked Sendable {
    private var slots: [Result<([UInt8], Image), any Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func store(_ index: Int, _ result: Result<([UInt8], Image), any Error>) { lock.lock(); slots[index] = result; lock.unlock() }
    func value(_ index: Int) throws -> ([UInt8], Image) { lock.lock(); defer { lock.unlock() }; return try slots[index]!.get() }
}
