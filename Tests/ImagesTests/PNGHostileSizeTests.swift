import XCTest
@testable import Images

/// Files whose chunks claim more than they hold are refused before anything is allocated for the
/// claim (fuzzing findings: a 98-byte file with a tEXt chunk claiming 1.2 GB cost 1.2 GB; a 73-byte
/// file claiming 16384 x 16384 16-bit RGBA pixels cost 2 GiB before libpng noticed the data was missing).
final class PNGHostileSizeTests: XCTestCase {
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    func ihdr(width: UInt32, height: UInt32, depth: UInt8, colorType: UInt8) -> [UInt8] {
        RawPNG.chunk("IHDR", RawPNG.bigEndian(width) + RawPNG.bigEndian(height) + [depth, colorType, 0, 0, 0])
    }

    /// The chunks after the signature of a valid 4 x 4 RGB image.
    var validChunks: ArraySlice<UInt8> {
        RawPNG.make(width: 4, height: 4, bitDepth: 8, colorType: 2, samples: [Int](repeating: 7, count: 48)).dropFirst(8)
    }

    func decodeError(_ bytes: [UInt8]) -> ImageError? {
        do {
            let image = try PNG.decode(bytes, name: "hostile.png")
            XCTFail("decoded as \(image.width)x\(image.height)")
            return nil
        } catch { return error }
    }

    func testAncillaryChunkRunningPastTheEndIsRefused() {
        // A tEXt chunk declaring 1.2 GB, in a file that ends 14 bytes into it.
        let text = RawPNG.bigEndian(1_200_000_000) + Array("tEXtComment\u{0}hello".utf8)
        let bytes = signature + ihdr(width: 4, height: 4, depth: 8, colorType: 2) + text
        XCTAssertEqual(decodeError(bytes), .corrupt(
            path: "hostile.png", message: "chunk tEXt declares 1200000000 bytes but the file ends 13 bytes into it (truncated or damaged)"))
    }

    func testCutOffImageDataIsStillLibpngsToReport() {
        // A cut IDAT is streamed, not allocated: the message stays libpng's (as for Fixtures/images/truncated.png).
        let whole = signature + validChunks
        let idat = whole.count - 12 - 12  // the IDAT's CRC and the IEND chunk
        guard case .corrupt(_, let message)? = decodeError(Array(whole[..<idat])) else { return XCTFail() }
        XCTAssertFalse(message.hasPrefix("chunk IDAT"), message)
    }

    func testImageDataTooSmallForTheDeclaredPixelsIsRefusedBeforeAllocating() {
        let chunks = Array(validChunks)
        let idatAndEnd = chunks[25...]  // after the IHDR chunk (12 + 13 bytes)
        let bytes = signature + ihdr(width: 16384, height: 16384, depth: 16, colorType: 6) + idatAndEnd
        let idatBytes = Int(idatAndEnd[idatAndEnd.startIndex + 3])
        XCTAssertEqual(decodeError(bytes), .corrupt(
            path: "hostile.png", message: "\(idatBytes) bytes of image data cannot hold 16384x16384 pixels (at least "
                + "\(16384 * 16384 * 8 / 1032) bytes compressed); the file is truncated or damaged"))
        // The limits still come first: an image over them is too large, whatever its data.
        let huge = signature + ihdr(width: 100_000, height: 1, depth: 8, colorType: 0) + idatAndEnd
        XCTAssertEqual(decodeError(huge), .tooLarge(path: "hostile.png", width: 100_000, height: 1, limits: .default))
    }

    func testLargestDimensionsTheHeaderCanHoldDoNotOverflowTheSizeCheck() {
        // Fuzzing finding: 2^32 − 1 x 2^32 − 1 16-bit RGBA overflowed the sample count (a trap).
        let idatAndEnd = Array(validChunks)[25...]
        let bytes = signature + ihdr(width: .max, height: .max, depth: 16, colorType: 6) + idatAndEnd
        guard case .corrupt? = decodeError(bytes) else { return XCTFail("libpng refuses dimensions over 2^31 − 1") }
        let wide = signature + ihdr(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF, depth: 16, colorType: 6) + idatAndEnd
        XCTAssertNotNil(decodeError(wide))
    }

    func testHighlyCompressedImagesStillDecode() throws {
        // 2048 x 2048 black gray pixels compress about 1000:1 with zlib's best level: within the bound.
        let image = Image(width: 2048, height: 2048, colorType: .gray)
        let bytes = try PNG.encode(image, compression: .smallest)
        XCTAssertLessThan(bytes.count, 8192)
        XCTAssertEqual(try PNG.decode(bytes, name: "flat.png"), image)
    }

    func testChunksBeforeTheHeaderAreRefused() throws {
        let palette = RawPNG.chunk("PLTE", [UInt8](repeating: 9, count: 12)), transparency = RawPNG.chunk("tRNS", [0, 0])
        guard case .corrupt? = decodeError(signature + palette + transparency + validChunks) else { return XCTFail() }
        guard case .corrupt? = decodeError(signature + RawPNG.chunk("tEXt", Array("a\u{0}b".utf8)) + validChunks) else {
            return XCTFail()
        }
        // Colour-management chunks are removed before libpng sees the file, wherever they are.
        let gamma = RawPNG.chunk("gAMA", RawPNG.bigEndian(100_000))
        XCTAssertEqual(try PNG.decode(signature + gamma + validChunks, name: "g.png").pixels, [UInt8](repeating: 7, count: 48))
    }
}
