/// Chunk-level edits made to a PNG byte stream before libpng sees it.
enum PNGChunks {
    /// The chunks that declare a colour encoding: gAMA, sRGB, iCCP and cHRM.
    private static let colorManagement: [[UInt8]] = ["gAMA", "sRGB", "iCCP", "cHRM"].map { Array($0.utf8) }
    private static let idat = Array("IDAT".utf8)

    /// `bytes` (a PNG, signature checked by the caller) without the colour-management chunks
    /// that precede the first IDAT, the only place the PNG specification allows them.
    ///
    /// Why: libpng's simplified API converts samples from the encoding these chunks declare,
    /// and the codec wants samples as stored (see LibPNG.swift, "Read me first"). Stops at the
    /// first chunk whose length runs past the end, leaving the rest for libpng to report.
    /// Returns `bytes` unchanged, without copying, when there is nothing to remove.
    static func removingColorManagement(_ bytes: [UInt8]) -> [UInt8] {
        var removed: [Range<Int>] = []
        var at = 8
        while at + 8 <= bytes.count {
            let length = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
            let end = at + 12 + length  // length, type, data, CRC
            guard end <= bytes.count else { break }
            let type = bytes[(at + 4)..<(at + 8)]
            if type.elementsEqual(idat) { break }
            if colorManagement.contains(where: { type.elementsEqual($0) }) { removed.append(at..<end) }
            at = end
        }
        if removed.isEmpty { return bytes }
        var kept: [UInt8] = []
        kept.reserveCapacity(bytes.count)
        var from = 0
        for range in removed {
            kept += bytes[from..<range.lowerBound]
            from = range.upperBound
        }
        kept += bytes[from...]
        return kept
    }
}

extension PNGChunks {
    /// What the chunk layout says before libpng reads a pixel: checks that keep a damaged or hostile
    /// file from making the reader allocate for data the file does not hold.
    struct Survey {
        /// Bytes of IDAT data the file holds (chunks cut off by the end count what is present).
        var imageDataBytes = 0
        /// The fewest bytes of IDAT data that can hold the image IHDR declares (its samples, at
        /// zlib's largest possible compression ratio); nil when the file does not start with a
        /// well-formed IHDR (libpng reports that).
        var minimumImageDataBytes: Int?
    }

    /// deflate's best compression ratio: a 258-byte match costs at least 2 bits, so 1 byte of
    /// compressed data expands to at most 258 · 4 = 1032 bytes.
    static let maximumCompressionRatio = 1032

    /// Surveys the chunks of `bytes` (a PNG, signature checked by the caller) up to IEND or the end
    /// of the file, and throws ``ImageError/corrupt(path:message:)`` for a chunk other than IDAT
    /// that runs past the end of the file: libpng allocates a chunk's declared length before it
    /// reads the chunk, so one claiming 1.2 GB in a 100-byte file would cost 1.2 GB. (A cut-off
    /// IDAT is streamed, not allocated; libpng reports it.)
    static func survey(_ bytes: [UInt8], name: String) throws(ImageError) -> Survey {
        var survey = Survey()
        var at = 8
        var first = true
        while at + 8 <= bytes.count {
            let length = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = bytes[(at + 4)..<(at + 8)]
            let present = bytes.count - (at + 8)
            if type.elementsEqual(idat) {
                survey.imageDataBytes += min(length, present)
            } else if length > present {
                let typeName = String(decoding: type.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
                throw .corrupt(path: name, message: "chunk \(typeName) declares \(length) bytes but the file ends "
                                   + "\(present) bytes into it (truncated or damaged)")
            }
            if first && type.elementsEqual(ihdr) && length == 13 {
                survey.minimumImageDataBytes = minimumImageDataBytes(ihdr: bytes[(at + 8)..<(at + 21)])
            }
            first = false
            if type.elementsEqual(iend) { break }
            at += 12 + length
        }
        return survey
    }

    private static let ihdr = Array("IHDR".utf8)
    private static let iend = Array("IEND".utf8)

    /// The fewest compressed bytes that can hold the samples of the image an IHDR's 13 data
    /// bytes declare (width, height, bit depth, colour type), or nil when they are not valid.
    private static func minimumImageDataBytes(ihdr data: ArraySlice<UInt8>) -> Int? {
        let fields = Array(data)
        let width = fields[0..<4].reduce(0) { $0 << 8 | Int($1) }
        let height = fields[4..<8].reduce(0) { $0 << 8 | Int($1) }
        let depth = Int(fields[8])
        let samplesPerPixel: Int
        switch fields[9] {
        case 0, 3: samplesPerPixel = 1  // gray, palette
        case 2: samplesPerPixel = 3
        case 4: samplesPerPixel = 2
        case 6: samplesPerPixel = 4
        default: return nil
        }
        guard [1, 2, 4, 8, 16].contains(depth) else { return nil }
        // Without the filter bytes, a lower bound for interlaced images too. Width and height
        // reach 2^32 − 1 in the field, so the product can overflow (a fuzzing finding): such an
        // image needs more data than any file holds.
        let (rowBits, o1) = width.multipliedReportingOverflow(by: samplesPerPixel * depth)
        let (bytes, o2) = ((rowBits + 7) / 8).multipliedReportingOverflow(by: height)
        if o1 || o2 { return Int.max }
        return bytes / maximumCompressionRatio
    }
}
