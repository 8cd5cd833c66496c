/// An 8-bit image as the codec sees it: gray or RGB, no alpha, samples interleaved row by row.
///
/// Sample `c` of the pixel in column `x`, row `y` is `pixels[(y * width + x) * channels + c]`,
/// with `0 ≤ x < width`, `0 ≤ y < height`, `0 ≤ c < channels`; rows run top to bottom.
/// Values are sRGB-encoded (what a PNG stores and a screen shows), 0 = black, 255 = white.
/// The pixel count always matches the size: every initialiser checks it.
public struct Image: Sendable, Equatable {
    /// The colour layout of a pixel.
    public enum ColorType: Sendable, Equatable, CaseIterable {
        /// One luminance sample per pixel.
        case gray
        /// Red, green, blue samples, in that order.
        case rgb

        /// Samples per pixel: 1 for gray, 3 for RGB.
        public var channels: Int {
            switch self {
            case .gray: return 1
            case .rgb: return 3
            }
        }
    }

    /// Columns, at least 1.
    public let width: Int
    /// Rows, at least 1.
    public let height: Int
    /// Gray or RGB.
    public let colorType: ColorType
    /// `width * height * colorType.channels` samples, interleaved, row-major (see the type's doc).
    public private(set) var pixels: [UInt8]

    /// Samples per pixel (1 or 3).
    public var channels: Int { colorType.channels }

    /// Wraps existing samples. `pixels.count` must be `width * height * colorType.channels`
    /// and both dimensions at least 1.
    public init(width: Int, height: Int, colorType: ColorType, pixels: [UInt8]) {
        precondition(width >= 1 && height >= 1, "an image needs at least one pixel, got \(width)x\(height)")
        let (area, overflow1) = width.multipliedReportingOverflow(by: height)
        let (count, overflow2) = area.multipliedReportingOverflow(by: colorType.channels)
        precondition(!overflow1 && !overflow2 && pixels.count == count,
                     "\(width)x\(height) \(colorType) needs \(width)*\(height)*\(colorType.channels) samples, got \(pixels.count)")
        self.width = width
        self.height = height
        self.colorType = colorType
        self.pixels = pixels
    }

    /// An image with every sample set to `value` (0, black, by default).
    public init(width: Int, height: Int, colorType: ColorType, filledWith value: UInt8 = 0) {
        precondition(width >= 1 && height >= 1, "an image needs at least one pixel, got \(width)x\(height)")
        self.init(width: width, height: height, colorType: colorType,
                  pixels: [UInt8](repeating: value, count: width * height * colorType.channels))
    }

    /// Sample `channel` of the pixel at column `x`, row `y`. All three must be in range.
    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[index(x, y, channel)] }
        set { pixels[index(x, y, channel)] = newValue }
    }

    private func index(_ x: Int, _ y: Int, _ channel: Int) -> Int {
        precondition(x >= 0 && x < width && y >= 0 && y < height && channel >= 0 && channel < channels,
                     "(\(x), \(y), \(channel)) is outside a \(width)x\(height)x\(channels) image")
        return (y * width + x) * channels + channel
    }

    /// The same picture in another colour type.
    ///
    /// Gray to RGB copies the gray sample into all three channels (lossless; converting back
    /// gives the original). RGB to gray takes the Rec. 601 luma, `(299 R + 587 G + 114 B) / 1000`
    /// rounded to nearest, computed on the sRGB-encoded samples as JPEG does.
    public func converted(to target: ColorType) -> Image {
        switch (colorType, target) {
        case (.gray, .gray), (.rgb, .rgb):
            return self
        case (.gray, .rgb):
            var out = [UInt8](repeating: 0, count: pixels.count * 3)
            for (i, v) in pixels.enumerated() {
                out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v
            }
            return Image(width: width, height: height, colorType: .rgb, pixels: out)
        case (.rgb, .gray):
            var out = [UInt8](repeating: 0, count: width * height)
            for i in out.indices {
                let luma = 299 * Int(pixels[3 * i]) + 587 * Int(pixels[3 * i + 1]) + 114 * Int(pixels[3 * i + 2])
                out[i] = UInt8((luma + 500) / 1000)
            }
            return Image(width: width, height: height, colorType: .gray, pixels: out)
        }
    }
}
