import FileIO

/// Reading PNG files (through libpng's simplified API) and writing them (filters in Swift, zlib).
///
/// Reading accepts every PNG colour type and bit depth (1, 2, 4, 8, 16; palette; interlaced):
/// - gray and gray+alpha become ``Image/ColorType/gray``; RGB, RGBA and palette become ``Image/ColorType/rgb``;
/// - samples are taken as stored and treated as sRGB: colour-management chunks (gAMA, sRGB,
///   iCCP, cHRM) are ignored, as Pillow and OpenCV do, so a file declaring gAMA 1.0 is not
///   re-encoded (libpng's simplified API would; see LibPNG.swift);
/// - 16-bit samples are reduced to 8 bits as `round(v / 257)`, the reduction that keeps the
///   encoded value; 1-, 2- and 4-bit gray is scaled to 0...255 (1-bit: 0 → 0, 1 → 255);
/// - an alpha channel or tRNS chunk is accepted only when every pixel is opaque (alpha at its
///   maximum, 255 or 65535), and then dropped; otherwise ``ImageError/transparencyNotSupported(path:)``.
///
/// Writing produces an 8-bit gray or RGB PNG that reads back to exactly the same ``Image``.
public enum PNG {
    /// The 8 bytes every PNG file starts with.
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Reads the PNG file at `path`.
    ///
    /// The file is loaded whole through `AtomicFile.read`, refusing files over
    /// `limits.maxFileBytes` (``ImageError/file(_:)`` wrapping FileIO's error, so missing and
    /// unreadable files keep their own cases); then see ``decode(_:name:limits:)``.
    public static func read(path: String, limits: ImageLimits = .default) throws(ImageError) -> Image {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path, maxBytes: limits.maxFileBytes) } catch { throw .file(error) }
        return try decode(bytes, name: path, limits: limits)
    }

    /// Decodes PNG file contents held in memory. `name` is what errors call the file.
    ///
    /// Dimensions are checked against `limits` from the header, before pixel memory is allocated,
    /// and so is the file's size: a chunk that runs past the end of the file (other than the
    /// image data), or image data too short to hold the pixels the header declares even at
    /// zlib's best compression ratio, is `.corrupt` before anything is allocated for it.
    public static func decode(_ bytes: [UInt8], name: String, limits: ImageLimits = .default) throws(ImageError) -> Image {
        guard bytes.starts(with: signature) else {
            if !bytes.isEmpty && signature.starts(with: bytes) {
                throw .corrupt(path: name, message: "the file ends inside the PNG signature")
            }
            throw .notPNG(path: name)
        }
        let survey = try PNGChunks.survey(bytes, name: name)
        let decoded = try LibPNG.decode(PNGChunks.removingColorManagement(bytes), name: name) {
            (header: PNGHeader) throws(ImageError) -> PNGLayout in
            guard header.width >= 1, header.height >= 1 else {
                throw .corrupt(path: name, message: "image has no pixels (\(header.width)x\(header.height))")
            }
            guard limits.admits(width: header.width, height: header.height) else {
                throw .tooLarge(path: name, width: header.width, height: header.height, limits: limits)
            }
            // Before allocating the pixels: a file too small to hold them is damaged, however
            // large a buffer libpng would have filled before noticing.
            if let needed = survey.minimumImageDataBytes, survey.imageDataBytes < needed {
                throw .corrupt(path: name, message: "\(survey.imageDataBytes) bytes of image data cannot hold "
                                   + "\(header.width)x\(header.height) pixels (at least \(needed) bytes compressed); "
                                   + "the file is truncated or damaged")
            }
            // Read alpha whenever the file has it (channel or tRNS), to check it is all opaque.
            switch (header.isColor, header.hasAlpha) {
            case (false, false): return .gray
            case (false, true): return .grayAlpha
            case (true, false): return .rgb
            case (true, true): return .rgba
            }
        }
        let (header, layout, samples) = decoded
        let colorType: Image.ColorType = header.isColor ? .rgb : .gray
        let pixels: [UInt8]
        switch samples {
        case .eightBit(let values):
            pixels = try droppingOpaqueAlpha(values, channels: layout.channels, kept: colorType.channels, name: name)
        case .sixteenBit(let values):
            // (v + 128) / 257 is round(v / 257): v / 257 is never exactly halfway (2v is even,
            // 257 (2k + 1) is odd), and it maps 0 -> 0, 65535 -> 255, k * 257 -> k.
            pixels = try droppingOpaqueAlpha(values, channels: layout.channels, kept: colorType.channels, name: name)
                .map { UInt8((UInt32($0) + 128) / 257) }
        }
        return Image(width: header.width, height: header.height, colorType: colorType, pixels: pixels)
    }

    /// Encodes `image` as an 8-bit gray or RGB PNG tagged sRGB (an sRGB chunk), without
    /// interlacing, compressed at `compression` (PNGWriter.swift). The same image and
    /// compression always give the same bytes, on any number of cores.
    public static func encode(_ image: Image, compression: PNGCompression = .default) throws(ImageError) -> [UInt8] {
        try PNGWriter.encode(width: image.width, height: image.height, channels: image.channels,
                             samples: image.pixels, compression: compression)
    }

    /// Writes `image` to `path` as a PNG (``encode(_:compression:)``), atomically
    /// (`AtomicFile.write`): the file appears complete or not at all, and an existing file is
    /// replaced only on success.
    /// - Parameter inputs: files being read by the caller; if `path` names one of them
    ///   (even through another spelling or a link), the write is refused with
    ///   `.file(.outputIsInput(path:))` and nothing is touched.
    public static func write(_ image: Image, to path: String, refusingToOverwrite inputs: [String] = [],
                             compression: PNGCompression = .default) throws(ImageError) {
        let bytes = try encode(image, compression: compression)
        do { try AtomicFile.write(bytes, to: path, refusingToOverwrite: inputs) } catch { throw .file(error) }
    }

    /// Checks that the alpha sample (the last of `channels`) of every pixel is at its maximum and
    /// returns the samples without it. Returns `samples` itself when there is no alpha.
    private static func droppingOpaqueAlpha<Sample: FixedWidthInteger>(
        _ samples: [Sample], channels: Int, kept: Int, name: String
    ) throws(ImageError) -> [Sample] {
        if channels == kept { return samples }
        precondition(channels == kept + 1)
        let pixelCount = samples.count / channels
        var out = [Sample](repeating: 0, count: pixelCount * kept)
        var allOpaque = true
        samples.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for p in 0..<pixelCount {
                    let s = p * channels
                    allOpaque = allOpaque && src[s + kept] == Sample.max
                    for c in 0..<kept { dst[p * kept + c] = src[s + c] }
                }
            }
        }
        guard allOpaque else { throw .transparencyNotSupported(path: name) }
        return out
    }
}
