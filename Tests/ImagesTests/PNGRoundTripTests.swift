import SeededRandom
import XCTest
import Images

final class PNGRoundTripTests: XCTestCase {
    private static let sizes = [(1, 1), (1, 17), (17, 1), (13, 7), (2, 64), (255, 3), (33, 31)]

    private func randomImage(_ width: Int, _ height: Int, _ colorType: Image.ColorType, _ rng: inout SplitMix64) -> Image {
        Image(width: width, height: height, colorType: colorType,
              pixels: (0..<(width * height * colorType.channels)).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    func testEncodeThenDecodeIsLosslessForGrayAndRGB() throws {
        var rng = SplitMix64(seed: 0x1AB5)
        for colorType in Image.ColorType.allCases {
            for (width, height) in Self.sizes {
                let image = randomImage(width, height, colorType, &rng)
                let bytes = try PNG.encode(image)
                XCTAssertEqual(try PNG.decode(bytes, name: "mem.png"), image, "\(colorType) \(width)x\(height)")
            }
        }
    }

    func testEncodingIsDeterministic() throws {
        var rng = SplitMix64(seed: 7)
        let image = randomImage(19, 5, .rgb, &rng)
        XCTAssertEqual(try PNG.encode(image), try PNG.encode(image))
    }

    /// Every 16-bit value v reads as round(v / 257), for gray, gray+alpha, RGB and RGBA.
    func testEverySixteenBitValueReducesToTheNearestEightBitValue() throws {
        let values = Array(0..<65536)
        let expectedGray = values.map(reduced)
        let gray = RawPNG.make(width: 256, height: 256, bitDepth: 16, colorType: 0, samples: values)
        XCTAssertEqual(try PNG.decode(gray, name: "gray16").pixels, expectedGray)
        let grayAlpha = RawPNG.make(width: 256, height: 256, bitDepth: 16, colorType: 4, samples: values.flatMap { [$0, 65535] })
        XCTAssertEqual(try PNG.decode(grayAlpha, name: "ga16").pixels, expectedGray)
        // RGB: the three channels carry v, its reverse and a shuffle, so each channel sees every value.
        let rgbSamples = values.flatMap { [$0, 65535 - $0, ($0 &* 40503) & 0xFFFF] }
        let expectedRGB = rgbSamples.map(reduced)
        let rgb = RawPNG.make(width: 256, height: 256, bitDepth: 16, colorType: 2, samples: rgbSamples)
        XCTAssertEqual(try PNG.decode(rgb, name: "rgb16").pixels, expectedRGB)
        let rgba = RawPNG.make(width: 256, height: 256, bitDepth: 16, colorType: 6,
                               samples: values.flatMap { [$0, 65535 - $0, ($0 &* 40503) & 0xFFFF, 65535] })
        XCTAssertEqual(try PNG.decode(rgba, name: "rgba16").pixels, expectedRGB)
    }

    /// 16-bit alpha must be exactly 65535, even where it would round to 255 at 8 bits.
    func testSixteenBitAlphaMustBeExactly65535() throws {
        let opaque = RawPNG.make(width: 2, height: 1, bitDepth: 16, colorType: 4, samples: [1000, 65535, 2000, 65535])
        XCTAssertEqual(try PNG.decode(opaque, name: "a").pixels, [reduced(1000), reduced(2000)])
        let almost = RawPNG.make(width: 2, height: 1, bitDepth: 16, colorType: 4, samples: [1000, 65535, 2000, 65534])
        XCTAssertThrowsError(try PNG.decode(almost, name: "b.png")) { error in
            XCTAssertEqual(error as? ImageError, .transparencyNotSupported(path: "b.png"))
        }
    }

    func testEightBitAlphaMustBeExactly255() throws {
        let opaque = RawPNG.make(width: 1, height: 2, bitDepth: 8, colorType: 6, samples: [1, 2, 3, 255, 4, 5, 6, 255])
        XCTAssertEqual(try PNG.decode(opaque, name: "o"), Image(width: 1, height: 2, colorType: .rgb, pixels: [1, 2, 3, 4, 5, 6]))
        let almost = RawPNG.make(width: 1, height: 2, bitDepth: 8, colorType: 6, samples: [1, 2, 3, 255, 4, 5, 6, 254])
        XCTAssertThrowsError(try PNG.decode(almost, name: "t.png")) { error in
            XCTAssertEqual(error as? ImageError, .transparencyNotSupported(path: "t.png"))
        }
    }
}
