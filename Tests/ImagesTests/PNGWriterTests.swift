import CZlib
import SeededRandom
import XCTest
@testable import Images

/// The PNG writer: its zlib stream, its filter choice and its compression levels.
final class PNGWriterTests: XCTestCase {
    /// The chunks of a PNG file: (type, body), CRCs checked.
    private func chunks(_ file: [UInt8]) throws -> [(String, [UInt8])] {
        XCTAssertEqual(Array(file.prefix(8)), PNG.signature)
        var result: [(String, [UInt8])] = []
        var offset = 8
        while offset < file.count {
            let length = file[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: file[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(file[(offset + 8)..<(offset + 8 + length)])
            let stored = file[(offset + 8 + length)..<(offset + 12 + length)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let computed = Array(file[(offset + 4)..<(offset + 8 + length)]).withUnsafeBufferPointer {
                UInt32(crc32(0, $0.baseAddress, uInt($0.count)))
            }
            XCTAssertEqual(stored, computed, "CRC of \(type)")
            result.append((type, body))
            offset += 12 + length
        }
        XCTAssertEqual(offset, file.count)
        return result
    }

    /// Inflates a whole zlib stream with zlib itself, which checks the header and the Adler-32;
    /// nil unless the stream ends exactly where the data does.
    private func inflated(_ stream: [UInt8], expectedCount: Int) -> [UInt8]? {
        var z = z_stream()
        guard inflateInit_(&z, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&z) }
        var output = [UInt8](repeating: 0, count: expectedCount + 1)
        let code = stream.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                z.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                z.avail_in = uInt(input.count)
                z.next_out = out.baseAddress
                z.avail_out = uInt(out.count)
                return inflate(&z, Z_FINISH)
            }
        }
        guard code == Z_STREAM_END, z.avail_in == 0, Int(z.total_out) == expectedCount else { return nil }
        return Array(output.prefix(expectedCount))
    }

    /// The filtered rows a PNG file holds (its IDAT chunks inflated).
    private func filteredRows(_ file: [UInt8], count: Int) throws -> [UInt8]? {
        inflated(try chunks(file).filter { $0.0 == "IDAT" }.flatMap { $0.1 }, expectedCount: count)
    }

    private func photoLike(width: Int, height: Int, seed: UInt64) -> Image {
        var random = SplitMix64(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    let smooth = (x * (c + 1) + y * 2) / 3 + (x * y) / 97
                    pixels[(y * width + x) * 3 + c] = UInt8(truncatingIfNeeded: smooth + Int(random.next() % 7))
                }
            }
        }
        return Image(width: width, height: height, colorType: .rgb, pixels: pixels)
    }

    /// An image of several pieces (128 KiB each): one valid zlib stream whose data are the
    /// filtered rows, at every level; the chunks are IHDR, sRGB, IDAT..., IEND.
    func testSeveralPiecesMakeOneValidZlibStreamAtEveryLevel() throws {
        let image = photoLike(width: 301, height: 200, seed: 3)   // 180,800 filtered bytes: 2 pieces
        XCTAssertEqual(PNGWriter.rowsPerPiece(rowBytes: 903), 144)
        // The reference: the filtered rows as one zlib stream would hold them (level 0 only stores).
        let filtered = try XCTUnwrap(try filteredRows(try PNG.encode(image, compression: PNGCompression(level: 0)!), count: 200 * 904))
        var sizes: [Int] = []
        for level in 0...9 {
            let file = try PNG.encode(image, compression: PNGCompression(level: level)!)
            let parts = try chunks(file)
            XCTAssertEqual(parts.first?.0, "IHDR")
            XCTAssertEqual(parts.first?.1, [0, 0, 1, 45, 0, 0, 0, 200, 8, 2, 0, 0, 0])
            XCTAssertEqual(parts.dropFirst().first?.0, "sRGB")
            XCTAssertEqual(parts.last?.0, "IEND")
            XCTAssertEqual(parts.filter { $0.0 == "IDAT" }.count, 2, "one IDAT chunk per piece")
            let stream = parts.filter { $0.0 == "IDAT" }.flatMap { $0.1 }
            XCTAssertEqual(inflated(stream, expectedCount: filtered.count), filtered, "level \(level)")
            XCTAssertEqual(try PNG.decode(file, name: "pieces.png"), image)
            sizes.append(file.count)
        }
        XCTAssertGreaterThan(sizes[0], filtered.count, "level 0 stores")
        XCTAssertLessThan(sizes[9], sizes[1], "level 9 compresses more than level 1")
        XCTAssertLessThan(sizes[6], sizes[0] / 2)
    }

    /// Filter `type`'s predictor (PNG specification §9.2) for byte `i` of `row`, under `above`.
    private static func predictor(_ type: Int, _ row: [UInt8], _ above: [UInt8], _ i: Int, bpp: Int) -> Int {
        let a = i >= bpp ? Int(row[i - bpp]) : 0
        let b = Int(above[i])
        let c = i >= bpp ? Int(above[i - bpp]) : 0
        switch type {
        case 0: return 0
        case 1: return a
        case 2: return b
        case 3: return (a + b) / 2
        default:
            let p = a + b - c
            let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
            return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
        }
    }

    /// Each row gets the filter whose output has the smallest sum of absolute values (as signed
    /// bytes), the first on ties (libpng's choice): rows built from each filter's own predictor
    /// plus a little noise, checked against every filter computed by its definition.
    func testEachRowGetsTheFilterWithTheSmallestAbsoluteSum() throws {
        let width = 24, bpp = 3, rowBytes = width * bpp
        var random = SplitMix64(seed: 0xF11)
        var rows: [[UInt8]] = [(0..<rowBytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }]
        for y in 1..<60 {
            let type = y % 5
            var row = [UInt8](repeating: 0, count: rowBytes)
            for i in 0..<rowBytes {
                let noise = Int(random.next() % 3) - 1
                let start = i < bpp ? Int(random.next() % 256) : 0
                row[i] = UInt8(truncatingIfNeeded: Self.predictor(type, row, rows[y - 1], i, bpp: bpp) + noise + start)
            }
            rows.append(row)
        }
        let image = Image(width: width, height: rows.count, colorType: .rgb, pixels: rows.flatMap { $0 })
        let stride = rowBytes + 1
        let filtered = try XCTUnwrap(try filteredRows(try PNG.encode(image), count: rows.count * stride))
        var chosen = Set<Int>()
        for y in 0..<rows.count {
            let above = y > 0 ? rows[y - 1] : [UInt8](repeating: 0, count: rowBytes)
            var best = -1, bestSum = Int.max, bestRow: [UInt8] = []
            for type in 0..<5 {
                let row = (0..<rowBytes).map { i in
                    UInt8(truncatingIfNeeded: Int(rows[y][i]) - Self.predictor(type, rows[y], above, i, bpp: bpp))
                }
                let sum = row.reduce(0) { $0 + ($1 < 128 ? Int($1) : 256 - Int($1)) }
                if sum < bestSum { best = type; bestSum = sum; bestRow = row }
            }
            XCTAssertEqual(Int(filtered[y * stride]), best, "row \(y)")
            XCTAssertEqual(Array(filtered[(y * stride + 1)..<((y + 1) * stride)]), bestRow, "row \(y)")
            chosen.insert(best)
        }
        XCTAssertEqual(chosen, [0, 1, 2, 3, 4], "the rows must exercise all five filters")
        XCTAssertEqual(try PNG.decode(try PNG.encode(image), name: "filters.png"), image)
    }

    /// Rows longer than a piece: one row per piece, the dictionary from the row before.
    func testRowsWiderThanAPieceRoundTrip() throws {
        let wide = photoLike(width: 50_000, height: 3, seed: 9)
        XCTAssertEqual(PNGWriter.rowsPerPiece(rowBytes: 150_000), 1)
        for level in [0, 2, 9] {
            let file = try PNG.encode(wide, compression: PNGCompression(level: level)!)
            XCTAssertEqual(try chunks(file).filter { $0.0 == "IDAT" }.count, 3)
            XCTAssertEqual(try PNG.decode(file, name: "wide.png"), wide, "level \(level)")
        }
    }

    func testCompressionLevelsOutsideZeroToNineAreRefused() {
        XCTAssertNil(PNGCompression(level: -1))
        XCTAssertNil(PNGCompression(level: 10))
        XCTAssertEqual(PNGCompression(level: 0)?.level, 0)
        XCTAssertEqual(PNGCompression.default.level, 6)
    }
}
