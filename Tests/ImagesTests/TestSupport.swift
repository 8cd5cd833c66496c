import SeededRandom
import Foundation

/// Fixtures/images/ in the package root (made by Tools/make_png_fixtures.py).
func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/images/\(name)").path
}

// The pixel formulas of Tools/make_png_fixtures.py; keep them in sync.
let a8 = [37, 13, 89], b8 = [71, 101, 29], c8 = [11, 50, 200]
let a16 = [40503, 9973, 30011], b16 = [11807, 52237, 7919], c16 = [129, 32768, 65535]

func sample8(_ x: Int, _ y: Int, _ c: Int) -> UInt8 { UInt8((x * a8[c] + y * b8[c] + c8[c]) % 256) }
func sample16(_ x: Int, _ y: Int, _ c: Int) -> Int { (x * a16[c] + y * b16[c] + c16[c]) % 65536 }
func paletteEntry(_ i: Int) -> [UInt8] { [UInt8((i * 53) % 256), UInt8((i * 97 + 31) % 256), UInt8((i * 151 + 7) % 256)] }
func paletteIndex(_ x: Int, _ y: Int, count: Int) -> Int { (x + y * 3) % count }

/// The expected 8-bit value of a 16-bit sample: round(v / 257), computed in floating point so the
/// test does not share the implementation's arithmetic.
func reduced(_ v: Int) -> UInt8 { UInt8((Double(v) / 257).rounded()) }


/// A minimal PNG writer for tests that need images the fixtures cannot hold (every 16-bit
/// value, exact alpha thresholds): filter type 0, zlib "stored" (uncompressed) deflate blocks.
enum RawPNG {
    /// `samples`: values of `bitDepth` bits (8 or 16), interleaved, row-major; colour types 0, 2, 4, 6.
    static func make(width: Int, height: Int, bitDepth: Int, colorType: UInt8, samples: [Int]) -> [UInt8] {
        let channels = [0: 1, 2: 3, 4: 2, 6: 4][Int(colorType)]!
        precondition(samples.count == width * height * channels)
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)
            for s in samples[(y * width * channels)..<((y + 1) * width * channels)] {
                if bitDepth == 16 { raw.append(UInt8(s >> 8)) }
                raw.append(UInt8(s & 0xFF))
            }
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            zlib.append(offset + n == raw.count ? 1 : 0)
            zlib += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            zlib += raw[offset..<(offset + n)]
            offset += n
        } while offset < raw.count
        zlib += bigEndian(adler32(raw))
        var ihdr = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        ihdr += [UInt8(bitDepth), colorType, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    static func chunk(_ kind: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(kind.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }
}
