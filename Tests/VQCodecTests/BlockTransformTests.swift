import XCTest
import Foundation
import Engine
@testable import VQCodec

/// The transforms run block by block (bounded memory) give what one whole-image pass gives:
/// the same symbols from the analysis and the same pixels from the synthesis, for the tiny
/// fixture model and for the shipped stride-8 and stride-16 models.
final class BlockTransformTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A 203 × 141 photo-like image (sizes not multiples of 8 or 16): the 64 × 48 fixture photo
    /// mirrored to fill it, plus seeded noise so no two blocks look alike.
    static func largeImage() throws -> Image {
        let photo = try PNG.read(path: root.appendingPathComponent("Fixtures/images/photo-64x48.png").path)
        let (width, height) = (203, 141)
        var generator = SplitMix64(seed: 42)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let sx = (x / photo.width) % 2 == 0 ? x % photo.width : photo.width - 1 - x % photo.width
                let sy = (y / photo.height) % 2 == 0 ? y % photo.height : photo.height - 1 - y % photo.height
                for c in 0..<3 {
                    let noise = Int(generator.next() % 17) - 8
                    pixels[(y * width + x) * 3 + c] = UInt8(clamping: Int(photo[sx, sy, c]) + noise)
                }
            }
        }
        return Image(width: width, height: height, colorType: .rgb, pixels: pixels)
    }

    func models() -> [(String, CodecModel)] {
        var list: [(String, CodecModel)] = []
        for path in ["Fixtures/models/tiny.safetensors", "Models/vq-s8-w64-g4k512.safetensors",
                     "Models/vq-s16-w64-g4k512.safetensors"] {
            list.append((path, try! CodecModel(path: Self.root.appendingPathComponent(path).path)))
        }
        return list
    }

    func testHaloCoversTheReceptiveFieldOfTheReferenceTransforms() throws {
        for (path, model) in models() {
            model.withTransforms { vqvae in
                // Synthesis: 3×3 convolutions on cells of 1, 1, 1/2, 1/4 … latent positions.
                XCTAssertEqual(vqvae.synthesisHalo, 3, path)
                // Analysis: reaches 2, 4, 8 … pixels through the 5×5 strided convolutions, then one
                // latent position: under 3 positions at every stride.
                XCTAssertEqual(vqvae.analysisHalo, 3, path)
            }
        }
    }

    func testBlocksGiveTheWholeImageResult() throws {
        let image = try Self.largeImage()
        for (path, model) in models() {
            let stride = model.configuration.stride
            var whole = VQCodec.EncodeOptions()
            whole.transformBlockPixels = 1 << 20
            whole.reconstruct = true
            var blocked = whole
            // Two latent positions per block: every block edge is an interior crop edge.
            blocked.transformBlockPixels = 2 * stride
            let a = try VQCodec.encode(image, model: model, options: whole)
            let b = try VQCodec.encode(image, model: model, options: blocked)
            XCTAssertEqual(a.symbols, b.symbols, "\(path): analysis by blocks chooses the same codes")
            XCTAssertEqual(a.bytes, b.bytes, path)

            let reference = try XCTUnwrap(a.reconstruction), tiled = try XCTUnwrap(b.reconstruction)
            var largest = 0, differing = 0
            for i in reference.pixels.indices {
                let d = abs(Int(reference.pixels[i]) - Int(tiled.pixels[i]))
                largest = max(largest, d)
                if d > 0 { differing += 1 }
            }
            XCTAssertLessThanOrEqual(largest, 1, "\(path): synthesis by blocks within one level")
            XCTAssertEqual(differing, 0, "\(path): synthesis by blocks gives identical pixels")

            var decodeBlocked = VQCodec.DecodeOptions()
            decodeBlocked.transformBlockPixels = 3 * stride
            XCTAssertEqual(try VQCodec.decode(a.bytes, model: model, options: decodeBlocked).image, reference, path)
        }
    }

    func testTooSmallAHaloWouldShow() throws {
        // The equality above is not vacuous: blocks synthesised without any halo differ from the
        // whole image along the block edges.
        let (_, model) = models()[1]
        let image = try Self.largeImage()
        var options = VQCodec.EncodeOptions()
        options.transformBlockPixels = 1 << 20
        let encoded = try VQCodec.encode(image, model: model, options: options)
        let h = encoded.header.latent
        let whole = BlockTransforms.image(symbols: encoded.symbols, latentHeight: h.height, latentWidth: h.width,
                                          width: image.width, height: image.height, colorType: .rgb, model: model,
                                          block: 1 << 20)
        let noHalo = BlockTransforms.image(symbols: encoded.symbols, latentHeight: h.height, latentWidth: h.width,
                                           width: image.width, height: image.height, colorType: .rgb, model: model,
                                           block: 4, halo: 0)
        XCTAssertNotEqual(whole, noHalo)
    }
}
