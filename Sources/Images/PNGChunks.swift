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
