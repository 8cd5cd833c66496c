import SeededRandom
import XCTest
import Foundation
import FileIO
import Images

/// Malformed input, limits and atomic writing: every failure is a typed error naming the file.
final class PNGErrorTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "/vqcodec-images-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func readError(_ path: String, limits: ImageLimits = .default, file: StaticString = #filePath, line: UInt = #line) -> ImageError? {
        do {
            let image = try PNG.read(path: path, limits: limits)
            XCTFail("\(path) read as \(image.width)x\(image.height)", file: file, line: line)
            return nil
        } catch {
            XCTAssertTrue(error.description.contains(path), "message names the file: \(error)", file: file, line: line)
            return error
        }
    }

    func testNotAPNGIsRecognisedFromTheSignature() {
        let path = fixture("not-png.png")
        XCTAssertEqual(readError(path), .notPNG(path: path))
        XCTAssertEqual(readError(path)?.description,
                       "\(path): not a PNG file (it does not start with the PNG signature); give a PNG image")
        XCTAssertThrowsError(try PNG.decode([], name: "empty.png")) { XCTAssertEqual($0 as? ImageError, .notPNG(path: "empty.png")) }
        XCTAssertThrowsError(try PNG.decode([0x89, 0x50, 0x4E], name: "short.png")) {
            XCTAssertEqual($0 as? ImageError, .corrupt(path: "short.png", message: "the file ends inside the PNG signature"))
        }
    }

    func testDamagedFilesCarryLibpngsMessage() {
        let truncated = fixture("truncated.png"), badCRC = fixture("bad-crc.png"), zeroWidth = fixture("zero-width.png")
        XCTAssertEqual(readError(truncated), .corrupt(path: truncated, message: "read beyond end of data"))
        XCTAssertEqual(readError(badCRC), .corrupt(path: badCRC, message: "IDAT: CRC error"))
        XCTAssertEqual(readError(zeroWidth), .corrupt(path: zeroWidth, message: "Invalid IHDR data"))
        XCTAssertEqual(readError(badCRC)?.description, "\(badCRC): damaged or invalid PNG: IDAT: CRC error")
    }

    /// 100000 x 100000 RGB would need 30 GB: refusing it without a crash shows nothing was allocated.
    func testHugeDimensionsAreRefusedFromTheHeader() {
        let path = fixture("huge-dimensions.png")
        XCTAssertEqual(readError(path), .tooLarge(path: path, width: 100_000, height: 100_000, limits: .default))
        XCTAssertEqual(readError(path)?.description,
                       "\(path): image is 100000x100000 pixels, more than the limit of 65535x65535 and 268435456 pixels in all")
    }

    func testLimitsAreInclusiveBounds() throws {
        let path = fixture("rgb8.png")  // 13 x 7 = 91 pixels, 348 bytes
        XCTAssertNoThrow(try PNG.read(path: path, limits: ImageLimits(maxWidth: 13, maxHeight: 7, maxPixels: 91, maxFileBytes: 348)))
        for limits in [ImageLimits(maxWidth: 12, maxHeight: 7, maxPixels: 91, maxFileBytes: 348),
                       ImageLimits(maxWidth: 13, maxHeight: 6, maxPixels: 91, maxFileBytes: 348),
                       ImageLimits(maxWidth: 13, maxHeight: 7, maxPixels: 90, maxFileBytes: 348)] {
            XCTAssertEqual(readError(path, limits: limits), .tooLarge(path: path, width: 13, height: 7, limits: limits))
        }
        let small = ImageLimits(maxWidth: 13, maxHeight: 7, maxPixels: 91, maxFileBytes: 347)
        XCTAssertEqual(readError(path, limits: small), .file(.tooLarge(path: path, bytes: 348, limit: 347)))
    }

    func testMissingFileIsAFileError() {
        let path = folder + "/absent.png"
        XCTAssertEqual(readError(path), .file(.notFound(path: path)))
    }

    func testTransparencyMessageSuggestsFlattening() {
        let path = fixture("rgba8-transparent.png")
        XCTAssertEqual(readError(path)?.description,
                       "\(path): the image has transparent pixels, which vqcodec cannot encode; flatten it onto a background "
                       + "first (for example `magick \(path) -background white -alpha remove -alpha off flat.png`)")
    }

    // MARK: Writing

    private var sample: Image {
        Image(width: 3, height: 2, colorType: .rgb, pixels: (0..<18).map { UInt8($0 * 14) })
    }

    private func folderContents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    func testWriteThenReadRoundTripsAndLeavesNoTemporary() throws {
        let path = folder + "/out.png"
        try PNG.write(sample, to: path)
        XCTAssertEqual(try PNG.read(path: path), sample)
        let gray = Image(width: 1, height: 5, colorType: .gray, pixels: [0, 1, 127, 254, 255])
        try PNG.write(gray, to: path)
        XCTAssertEqual(try PNG.read(path: path), gray, "an existing file is replaced")
        XCTAssertEqual(try folderContents(), ["out.png"])
    }

    /// Noise does not compress: each piece's deflate output is larger than its input (stored
    /// blocks), at every level; smooth images shrink. Both give exact round trips.
    func testIncompressibleAndSmoothImagesRoundTripAtEveryLevel() throws {
        var random = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15)
        let pixels = (0..<(320 * 320 * 3)).map { _ in UInt8(truncatingIfNeeded: random.next() >> 56) }
        let noise = Image(width: 320, height: 320, colorType: .rgb, pixels: pixels)
        let smooth = Image(width: 320, height: 320, colorType: .rgb, pixels: (0..<(320 * 320 * 3)).map { UInt8($0 / 960 % 256) })
        for level in 0...9 {
            let compression = PNGCompression(level: level)!
            let bytes = try PNG.encode(noise, compression: compression)
            XCTAssertGreaterThan(bytes.count, pixels.count, "level \(level)")
            XCTAssertEqual(try PNG.decode(bytes, name: "noise"), noise, "level \(level)")
            let small = try PNG.encode(smooth, compression: compression)
            if level > 0 { XCTAssertLessThan(small.count, 65536, "level \(level)") }
            XCTAssertEqual(try PNG.decode(small, name: "smooth"), smooth, "level \(level)")
        }
    }

    func testWriteIntoMissingFolderFailsCleanly() throws {
        let path = folder + "/no/such/folder/out.png"
        XCTAssertThrowsError(try PNG.write(sample, to: path)) { error in
            guard case .file(.cannotCreate(let failed, _))? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(failed, path)
        }
        XCTAssertEqual(try folderContents(), [])
    }

    /// When the destination is a folder the write is refused, what was there is untouched and no
    /// temporary file is left.
    func testFailedWriteLeavesThePreviousContentAndNoTemporary() throws {
        let path = folder + "/out.png"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        try PNG.write(sample, to: path + "/inner.png")
        XCTAssertThrowsError(try PNG.write(sample, to: path)) { error in
            guard case .file(.notRegularFile(let failed))? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(failed, path)
        }
        XCTAssertEqual(try folderContents(), ["out.png"])
        XCTAssertEqual(try PNG.read(path: path + "/inner.png"), sample)
    }

    func testRefusesToOverwriteTheInput() throws {
        let input = folder + "/in.png"
        try FileManager.default.copyItem(atPath: fixture("rgb8.png"), toPath: input)
        let before = try AtomicFile.read(input)
        let image = try PNG.read(path: input)
        XCTAssertThrowsError(try PNG.write(image.converted(to: .gray), to: folder + "/./in.png", refusingToOverwrite: [input])) { error in
            XCTAssertEqual(error as? ImageError, .file(.outputIsInput(path: self.folder + "/./in.png")))
        }
        XCTAssertEqual(try AtomicFile.read(input), before)
        XCTAssertEqual(try folderContents(), ["in.png"])
    }
}

/// No input, however malformed, crashes the reader: every truncation and random byte damage of
/// every fixture either decodes or throws.
final class MalformedInputTests: XCTestCase {
    func testTruncatedAndDamagedFixturesNeverCrash() throws {
        let folder = URL(fileURLWithPath: fixture(""))
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".png") && !$0.hasPrefix("photo") }.sorted()
        XCTAssertGreaterThan(names.count, 20)
        var rng = SplitMix64(seed: 0xBAD)
        var outcomes = (decoded: 0, refused: 0)
        func attempt(_ bytes: [UInt8]) {
            do { _ = try PNG.decode(bytes, name: "x.png"); outcomes.decoded += 1 } catch { outcomes.refused += 1 }
        }
        for name in names {
            let bytes = try AtomicFile.read(fixture(name))
            for length in 0..<bytes.count { attempt(Array(bytes[..<length])) }
            for _ in 0..<200 {
                var damaged = bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                attempt(damaged)
            }
        }
        XCTAssertGreaterThan(outcomes.refused, 0)
        XCTAssertGreaterThan(outcomes.decoded, 0)
    }

    func testColorManagementRemovalStopsAtADamagedLength() throws {
        var bytes = try AtomicFile.read(fixture("gray8-gamma1.png"))
        // The gAMA chunk follows IHDR (8 + 25 bytes); claim a length far past the end.
        XCTAssertEqual(Array(bytes[37..<41]), Array("gAMA".utf8))
        bytes[33] = 0x7F
        XCTAssertThrowsError(try PNG.decode(bytes, name: "len.png")) { error in
            guard case .corrupt(let path, _)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "len.png")
        }
    }
}
