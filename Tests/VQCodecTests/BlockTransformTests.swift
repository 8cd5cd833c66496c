import SeededRandom
import XCTest
import Foundation
import Engine
@testable import VQCodec

/// The transforms run block by block (bounded memory) give what one whole-image pass gives, for
/// the tiny fixture model and for the shipped stride-8 and stride-16 models: the same symbols
/// from the analysis and, from the synthesis, the same pixels up to float rounding. Blocks change
/// the shapes of the matrix products, and OpenBLAS's kernels for some CPUs (seen on AMD EPYC, not
/// on the Intel machine this was written on) then sum in another order, which can move a pixel
/// that sits at a rounding boundary by one level. A block edge without enough context differs by
/// far more (testTooSmallAHaloWouldShow).
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
        for path in ["Fixtures/models/tiny.safetensors", "Models/shipped/vq8-q4.safetensors",
                     "Models/shipped/vq16-q2.safetensors"] {
            list.append((path, try! CodecModel(path: Self.root.appendingPathComponent(path).path)))
        }
        return list
    }

    func testHaloCoversTheReceptiveFieldOfTheTransformNetworks() throws {
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
            // The nearest codes: the default encoder weighs codes by the synthesis's curvature, whose
            // float sums differ in their last bits between block sizes, so near-ties may go either way.
            whole.nearestCodes = true
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
            Self.assertRoundingClose(reference, tiled, "\(path): synthesis by blocks")

            var decodeBlocked = VQCodec.DecodeOptions()
            decodeBlocked.transformBlockPixels = 3 * stride
            Self.assertRoundingClose(reference, try VQCodec.decode(a.bytes, model: model, options: decodeBlocked).image,
                                     "\(path): decode by blocks")
        }
    }

    /// Same size and colour type; every sample within one level; at most 0.1 % of them off at all.
    static func assertRoundingClose(_ reference: Image, _ other: Image, _ what: String, line: UInt = #line) {
        XCTAssertEqual(reference.width, other.width, what, line: line)
        XCTAssertEqual(reference.height, other.height, what, line: line)
        XCTAssertEqual(reference.colorType, other.colorType, what, line: line)
        guard reference.pixels.count == other.pixels.count else { return XCTFail("\(what): sizes differ", line: line) }
        var largest = 0, differing = 0
        for i in reference.pixels.indices {
            let d = abs(Int(reference.pixels[i]) - Int(other.pixels[i]))
            largest = max(largest, d)
            if d > 0 { differing += 1 }
        }
        XCTAssertLessThanOrEqual(largest, 1, "\(what): within one level", line: line)
        XCTAssertLessThanOrEqual(differing * 1000, reference.pixels.count,
                                 "\(what): \(differing) of \(reference.pixels.count) samples differ (float rounding touches a few)", line: line)
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
