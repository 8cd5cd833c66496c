import FileIO

/// Why an image could not be read or written. Every case that concerns a file names it
/// (the `path`, or the `name` given to ``PNG/decode(_:name:limits:)``).
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// Reading or writing the file itself failed (missing, unreadable, larger than
    /// ``ImageLimits/maxFileBytes``, output folder missing, output would replace the input...).
    /// FileIO's error is kept whole so that callers can tell these apart.
    case file(FileIOError)
    /// The file does not start with the PNG signature.
    case notPNG(path: String)
    /// The file starts like a PNG but libpng rejected it; `message` is libpng's own
    /// (for example "IDAT: CRC error" or "read beyond end of data").
    case corrupt(path: String, message: String)
    /// The header declares more pixels than `limits` allow; refused before any pixel is decoded.
    case tooLarge(path: String, width: Int, height: Int, limits: ImageLimits)
    /// At least one pixel is not fully opaque (alpha channel or tRNS chunk).
    case transparencyNotSupported(path: String)
    /// The image could not be encoded as PNG (too large, or zlib failed; `message` says which).
    case encodingFailed(message: String)

    public var description: String {
        switch self {
        case .file(let error):
            return error.description
        case .notPNG(let path):
            return "\(path): not a PNG file (it does not start with the PNG signature); give a PNG image"
        case .corrupt(let path, let message):
            return "\(path): damaged or invalid PNG: \(message)"
        case .tooLarge(let path, let width, let height, let limits):
            return "\(path): image is \(width)x\(height) pixels, more than the limit of "
                + "\(limits.maxWidth)x\(limits.maxHeight) and \(limits.maxPixels) pixels in all"
        case .transparencyNotSupported(let path):
            return "\(path): the image has transparent pixels, which vqcodec cannot encode; flatten it "
                + "onto a background first (for example `magick \(path) -background white -alpha remove -alpha off flat.png`)"
        case .encodingFailed(let message):
            return "cannot encode PNG: \(message)"
        }
    }
}

/// Bounds on what the reader accepts, checked against the PNG header before any pixel
/// memory is allocated, so a 50-byte file claiming 100000 x 100000 pixels costs nothing.
public struct ImageLimits: Sendable, Equatable {
    /// Most columns accepted. Default 65535.
    public let maxWidth: Int
    /// Most rows accepted. Default 65535.
    public let maxHeight: Int
    /// Most pixels (width x height) accepted. Default 2^28 (268 megapixels, 805 MB as RGB).
    /// At most 2^29 - 1: libpng's simplified API decodes into one buffer of under 4 GiB
    /// (8 bytes a pixel for 16-bit RGBA).
    public let maxPixels: Int
    /// Largest file, in bytes, that ``PNG/read(path:limits:)`` loads. Default 1 GiB.
    public let maxFileBytes: Int

    public init(maxWidth: Int, maxHeight: Int, maxPixels: Int, maxFileBytes: Int) {
        precondition(maxWidth >= 1 && maxHeight >= 1 && maxFileBytes >= 1, "limits must allow at least one pixel and one byte")
        precondition(maxPixels >= 1 && maxPixels < 1 << 29, "maxPixels must be in 1..<2^29, got \(maxPixels)")
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
    }

    /// 65535 x 65535, 2^28 pixels, files up to 1 GiB.
    public static let `default` = ImageLimits(maxWidth: 65_535, maxHeight: 65_535, maxPixels: 1 << 28, maxFileBytes: 1 << 30)

    /// True when an image of this size (both at least 1) is within every bound.
    public func admits(width: Int, height: Int) -> Bool {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        return width >= 1 && height >= 1 && width <= maxWidth && height <= maxHeight && !overflow && pixels <= maxPixels
    }
}
