// Every call into libpng lives in this file; libpng reads PNGs (PNGWriter.swift writes them).
// We use only the simplified `png_image` API
// (libpng 1.6): it reports failures through return codes and `png_image.message` instead of
// longjmp, which Swift cannot unwind through. The rest of the module never sees a png type.
//
// Read me first: what the simplified API does to sample values, and what we ask of it.
// Measured on the installed libpng (Debian 1.6.39-2+deb12u4); ImagesTests pin every point.
// - Gamma. The API converts samples between the file's declared encoding and the requested one:
//   8-bit output is sRGB-encoded, 16-bit ("linear") output is linear. A 16-bit file without a
//   gAMA/sRGB chunk is taken to be linear, so asking for 8-bit output applies the sRGB curve
//   (129 -> 14, 6036 -> 86); an 8-bit file with gAMA 1.0 comes back re-encoded (1 -> 21).
//   The codec wants the samples as stored, so PNG.decode first removes the colour-management
//   chunks (gAMA, sRGB, iCCP, cHRM: see PNGChunks.swift). With none left, the API assumes sRGB
//   for 8-bit files and linear for 16-bit files, and as long as we ask for 8-bit output from
//   8-bit (or smaller) files and 16-bit output from 16-bit files, no conversion runs at all.
// - 16 -> 8 bits. We ask 16-bit files for 16-bit output (PNG_FORMAT_FLAG_LINEAR) and reduce in
//   Swift as round(v / 257). The API's own reduction (8-bit output with PNG_IMAGE_FLAG_16BIT_sRGB
//   set after png_image_begin_read) is also exactly round(v / 257), but this libpng corrupts
//   about half the samples of *interlaced* 16-bit images on that path (upstream issue
//   pnggroup/libpng#853, introduced by a security fix backported to 1.6.39), while the 16-bit
//   output path decodes them correctly.
// - Alpha. 8-bit output with alpha is not premultiplied; 16-bit output is premultiplied, which
//   changes nothing where alpha is at its maximum, the only case we accept.
import CPNG

/// What png_image_begin_read_from_memory reports before any pixel is decoded.
struct PNGHeader {
    let width: Int
    let height: Int
    /// Colour or palette (not gray).
    let isColor: Bool
    /// An alpha channel or a tRNS chunk.
    let hasAlpha: Bool
    /// 16 bits per sample (otherwise 1, 2, 4 or 8, or a palette).
    let isSixteenBit: Bool
}

/// The non-premultiplied sample layouts the reader asks libpng for.
enum PNGLayout {
    case gray, grayAlpha, rgb, rgba

    var channels: Int {
        switch self {
        case .gray: return 1
        case .grayAlpha: return 2
        case .rgb: return 3
        case .rgba: return 4
        }
    }
}

/// Decoded samples, interleaved row-major, in the file's precision: 8 bits for files of 1 to 8
/// bits per sample (scaled to 0...255) and palettes, 16 bits for 16-bit files.
enum PNGSamples {
    case eightBit([UInt8])
    case sixteenBit([UInt16])
}

enum LibPNG {
    /// Decodes a whole PNG held in memory: png_image_begin_read_from_memory reads the header,
    /// `choose` inspects it (and may refuse, before any pixel memory is allocated) and picks the
    /// layout, then png_image_finish_read decodes `width * height * layout.channels` samples.
    /// png_image_free runs on every path. libpng failures become
    /// `.corrupt(path: name, message: <libpng's message>)`.
    static func decode(
        _ bytes: [UInt8], name: String, choose: (PNGHeader) throws(ImageError) -> PNGLayout
    ) throws(ImageError) -> (header: PNGHeader, layout: PNGLayout, samples: PNGSamples) {
        let result: Result<(PNGHeader, PNGLayout, PNGSamples), ImageError> = bytes.withUnsafeBytes { memory in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            // The memory reader keeps the pointer until finish_read, so both calls stay inside
            // this closure.
            guard png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count) != 0 else {
                return .failure(.corrupt(path: name, message: message(of: &image)))
            }
            let header = PNGHeader(width: Int(image.width), height: Int(image.height),
                                   isColor: image.format & PNG_FORMAT_FLAG_COLOR != 0,
                                   hasAlpha: image.format & PNG_FORMAT_FLAG_ALPHA != 0,
                                   isSixteenBit: image.format & PNG_FORMAT_FLAG_LINEAR != 0)
            let layout: PNGLayout
            do throws(ImageError) { layout = try choose(header) } catch { return .failure(error) }

            var format: UInt32 = header.isSixteenBit ? PNG_FORMAT_FLAG_LINEAR : 0  // see "Read me first"
            if layout == .rgb || layout == .rgba { format |= PNG_FORMAT_FLAG_COLOR }
            if layout == .grayAlpha || layout == .rgba { format |= PNG_FORMAT_FLAG_ALPHA }
            image.format = format

            // row_stride counts components (bytes or 16-bit words), not bytes.
            let (rowComponents, o1) = header.width.multipliedReportingOverflow(by: layout.channels)
            let (count, o2) = rowComponents.multipliedReportingOverflow(by: header.height)
            guard !o1, !o2, let stride = Int32(exactly: rowComponents) else {
                return .failure(.corrupt(path: name, message: "image dimensions overflow"))
            }
            func finish(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
                png_image_finish_read(&image, nil, buffer.baseAddress, stride, nil) != 0
            }
            let samples: PNGSamples
            if header.isSixteenBit {
                var words = [UInt16](repeating: 0, count: count)
                guard words.withUnsafeMutableBytes(finish) else {
                    return .failure(.corrupt(path: name, message: message(of: &image)))
                }
                samples = .sixteenBit(words)
            } else {
                var bytes = [UInt8](repeating: 0, count: count)
                guard bytes.withUnsafeMutableBytes(finish) else {
                    return .failure(.corrupt(path: name, message: message(of: &image)))
                }
                samples = .eightBit(bytes)
            }
            return .success((header, layout, samples))
        }
        return try result.get()
    }

    /// libpng's message from `png_image.message` (a NUL-terminated C string of at most 64 bytes).
    private static func message(of image: inout png_image) -> String {
        let text = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "libpng reported an error without a message" : text
    }
}
