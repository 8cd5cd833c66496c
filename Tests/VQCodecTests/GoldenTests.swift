import XCTest
import Foundation
@testable import VQCodec

/// The bitstream is stable: a `.vqc` file written with the committed tiny model decodes, on any
/// machine and any later version, to exactly the symbols its encoder chose (the integer prior
/// makes the tables bit-exact). Regenerate only on purpose, with the model:
/// `Tools/make_tiny_model.sh`, then `VQCODEC_REGENERATE_GOLDEN=1 swift test --filter VQCodecTests.GoldenTests`.
final class GoldenTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    var regenerate: Bool { ProcessInfo.processInfo.environment["VQCODEC_REGENERATE_GOLDEN"] == "1" }

    func testTinyModelGoldenFileDecodesToTheEncodersSymbols() throws {
        let model = try CodecModel(path: Self.fixtures.appendingPathComponent("models/tiny.safetensors").path)
        let golden = Self.fixtures.appendingPathComponent("golden/tiny-photo.vqc")
        let symbolsFile = Self.fixtures.appendingPathComponent("golden/tiny-photo.symbols.txt")
        if regenerate {
            let image = try PNG.read(path: Self.fixtures.appendingPathComponent("images/photo-64x48.png").path)
            var options = VQCodec.EncodeOptions()
            options.tileSize = 4
            let encoded = try VQCodec.encode(image, model: model, options: options)
            try Data(encoded.bytes).write(to: golden)
            let h = encoded.header.latent
            var text = "# symbols [G=\(h.groups), h=\(h.height), w=\(h.width)] chosen by the encoder, one row per line\n"
            for row in 0..<(h.groups * h.height) {
                text += encoded.symbols[(row * h.width)..<((row + 1) * h.width)].map(String.init).joined(separator: " ") + "\n"
            }
            try text.write(to: symbolsFile, atomically: true, encoding: .utf8)
        }
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: golden.path), "missing golden file \(golden.path)")
        let expectedText = try String(contentsOf: symbolsFile, encoding: .utf8)
        let expected = expectedText.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .flatMap { $0.split(separator: " ").map { Int32($0)! } }
        let decoded = try VQCodec.decode(Array(bytes), model: model)
        XCTAssertEqual(decoded.header.tileCount, 4, "2 × 2 tiles of 4 × 4 positions over 6 × 8")
        XCTAssertEqual(decoded.symbols, expected)
        XCTAssertGreaterThan(Set(expected).count, 4, "a real symbolic image, not a constant")
    }
}
