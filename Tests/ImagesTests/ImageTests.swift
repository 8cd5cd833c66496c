import SeededRandom
import XCTest
import Images

final class ImageTests: XCTestCase {
    func testSubscriptFollowsTheInterleavedRowMajorLayout() {
        var image = Image(width: 3, height: 2, colorType: .rgb)
        image[2, 1, 1] = 9
        XCTAssertEqual(image.pixels[(1 * 3 + 2) * 3 + 1], 9)
        XCTAssertEqual(image.pixels.filter { $0 != 0 }.count, 1)
        let gray = Image(width: 2, height: 2, colorType: .gray, pixels: [1, 2, 3, 4])
        XCTAssertEqual(gray[0, 1, 0], 3)
        XCTAssertEqual(gray[1, 0, 0], 2)
    }

    func testGrayToRGBAndBackIsLossless() {
        var rng = SplitMix64(seed: 3)
        let gray = Image(width: 5, height: 3, colorType: .gray, pixels: (0..<15).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let rgb = gray.converted(to: .rgb)
        XCTAssertEqual(rgb.colorType, .rgb)
        XCTAssertEqual(rgb[4, 2, 0], gray[4, 2, 0])
        XCTAssertEqual(rgb[4, 2, 2], gray[4, 2, 0])
        XCTAssertEqual(rgb.converted(to: .gray), gray)
    }

    func testRGBToGrayUsesRoundedRec601Luma() {
        let rgb = Image(width: 4, height: 1, colorType: .rgb, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
        // 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1, 2.99+11.74+3.42 = 18.15
        XCTAssertEqual(rgb.converted(to: .gray).pixels, [76, 150, 29, 18])
    }
}
