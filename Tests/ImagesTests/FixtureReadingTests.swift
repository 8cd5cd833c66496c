import XCTest
import Images

/// Every readable fixture decodes to exactly the pixels its formula gives
/// (Tools/make_png_fixtures.py, Fixtures/images/README.md).
final class FixtureReadingTests: XCTestCase {
    private func assertPixels(_ name: String, _ colorType: Image.ColorType, width: Int = 13, height: Int = 7,
                              _ expected: (Int, Int, Int) -> UInt8, file: StaticString = #filePath, line: UInt = #line) throws {
        let image = try PNG.read(path: fixture(name))
        XCTAssertEqual(image.width, width, name, file: file, line: line)
        XCTAssertEqual(image.height, height, name, file: file, line: line)
        XCTAssertEqual(image.colorType, colorType, name, file: file, line: line)
        guard image.width == width, image.height == height, image.colorType == colorType else { return }
        var mismatches: [String] = []
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<colorType.channels where image[x, y, c] != expected(x, y, c) {
                    mismatches.append("(\(x),\(y),\(c)): \(image[x, y, c]) != \(expected(x, y, c))")
                }
            }
        }
        XCTAssertEqual(mismatches, [], name, file: file, line: line)
    }

    func testLowBitDepthGrayIsScaledToFullRange() throws {
        try assertPixels("gray1.png", .gray) { x, y, _ in (x + 2 * y) % 3 == 0 ? 255 : 0 }
        try assertPixels("gray2.png", .gray) { x, y, _ in UInt8((x + y) % 4 * 85) }
        try assertPixels("gray4.png", .gray) { x, y, _ in UInt8((3 * x + 5 * y) % 16 * 17) }
    }

    func testEightBitGrayAndRGBAreExact() throws {
        try assertPixels("gray8.png", .gray) { x, y, _ in sample8(x, y, 0) }
        try assertPixels("rgb8.png", .rgb, sample8)
    }

    func testSixteenBitSamplesAreRoundedToEightBits() throws {
        try assertPixels("gray16.png", .gray) { x, y, _ in reduced(sample16(x, y, 0)) }
        try assertPixels("rgb16.png", .rgb) { x, y, c in reduced(sample16(x, y, c)) }
    }

    /// libpng would re-encode these (gray8-gamma1 from linear: 11 -> 61; rgb16-srgb-chunks to
    /// linear on the 16-bit path); the reader ignores the chunks and keeps the stored samples.
    func testColorManagementChunksAreIgnored() throws {
        try assertPixels("gray8-gamma1.png", .gray) { x, y, _ in sample8(x, y, 0) }
        try assertPixels("rgb16-srgb-chunks.png", .rgb) { x, y, c in reduced(sample16(x, y, c)) }
    }

    func testOpaqueAlphaIsDropped() throws {
        try assertPixels("graya8-opaque.png", .gray) { x, y, _ in sample8(x, y, 0) }
        try assertPixels("graya16-opaque.png", .gray) { x, y, _ in reduced(sample16(x, y, 0)) }
        try assertPixels("rgba8-opaque.png", .rgb, sample8)
        try assertPixels("rgba16-opaque.png", .rgb) { x, y, c in reduced(sample16(x, y, c)) }
        try assertPixels("rgb8-trns-unused.png", .rgb, sample8)
        try assertPixels("palette8-trns-opaque.png", .rgb) { x, y, c in paletteEntry(paletteIndex(x, y, count: 20))[c] }
    }

    func testPaletteImagesBecomeRGB() throws {
        try assertPixels("palette8.png", .rgb) { x, y, c in paletteEntry(paletteIndex(x, y, count: 20))[c] }
        try assertPixels("palette4.png", .rgb) { x, y, c in paletteEntry(paletteIndex(x, y, count: 16))[c] }
    }

    func testInterlacedImagesAreDeinterlaced() throws {
        try assertPixels("rgb8-interlaced.png", .rgb, width: 11, height: 9, sample8)
        try assertPixels("gray16-interlaced.png", .gray, width: 11, height: 9) { x, y, _ in reduced(sample16(x, y, 0)) }
    }

    func testTransparentPixelsAreRefusedNamingTheFile() {
        for name in ["graya8-transparent.png", "rgba8-transparent.png", "palette8-trns-transparent.png", "gray8-trns.png"] {
            let path = fixture(name)
            XCTAssertThrowsError(try PNG.read(path: path), name) { error in
                XCTAssertEqual(error as? ImageError, .transparencyNotSupported(path: path), name)
            }
        }
    }

    /// The photo crops agree with Pillow's decode (checksums recorded by the fixture script).
    func testPhotosMatchAnIndependentDecoder() throws {
        let table = try String(contentsOfFile: fixture("photo-checksums.txt"), encoding: .utf8)
        let rows = table.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(rows.map { $0[0] }, ["photo-64x48.png", "photo-gray-40x24.png", "photo-192x128.png"])
        for row in rows {
            let image = try PNG.read(path: fixture(row[0]))
            XCTAssertEqual([image.width, image.height, image.channels], [Int(row[1]), Int(row[2]), Int(row[3])], row[0])
            XCTAssertEqual(image.pixels.reduce(0) { $0 + Int($1) }, Int(row[4]), row[0])
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for b in image.pixels { hash = (hash ^ UInt64(b)) &* 0x100_0000_01B3 }
            XCTAssertEqual(hash, UInt64(row[5], radix: 16), row[0])
        }
    }
}
