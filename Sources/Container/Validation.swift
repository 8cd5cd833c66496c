// The field rules and limits of Formats/vqc.md §3 and §4 step 5, shared by the reader and the
// writer so that the writer never produces a file the reader refuses.

/// Header fields as plain numbers, as read from a file or converted from a ``VQCHeaderFields``.
struct RawFields {
    var flags: UInt64
    var width: UInt64
    var height: UInt64
    var colorType: UInt64
    var bitDepth: UInt64
    var stride: UInt64
    var groups: UInt64
    var codebookSize: UInt64
    var latentHeight: UInt64
    var latentWidth: UInt64
    var tileHeight: UInt64
    var tileWidth: UInt64
    var modelChecksum: UInt64
    var modelName: [UInt8]

    /// Checks every field in the order of `Formats/vqc.md` §4 step 5 and returns the tile count.
    func validate(_ limits: ContainerLimits) throws(ContainerError) -> Int {
        try FieldRules.checkImage(flags: flags, colorType: colorType, bitDepth: bitDepth, modelName: modelName,
                                  width: width, height: height, stride: stride, limits: limits)
        try FieldRules.checkCodebook(groups: groups, codebookSize: codebookSize, limits: limits)
        return try FieldRules.checkTiling(width: width, height: height, stride: stride,
                                          latentHeight: latentHeight, latentWidth: latentWidth,
                                          tileHeight: tileHeight, tileWidth: tileWidth, limits: limits)
    }
}

/// The rules of §4 step 5 in the pieces that version 1 and version 2 share; each throws the first problem.
enum FieldRules {
    static let u32 = UInt64(UInt32.max)

    /// A configured limit, capped by the format's ceiling (a negative limit admits nothing).
    static func limit(_ configured: Int, ceiling: UInt64) -> UInt64 { min(UInt64(max(configured, 0)), ceiling) }

    /// flags, colour type, bit depth, model name, width, height, pixel count, stride, in this order.
    static func checkImage(flags: UInt64, colorType: UInt64, bitDepth: UInt64, modelName: [UInt8],
                           width: UInt64, height: UInt64, stride: UInt64,
                           limits: ContainerLimits) throws(ContainerError) {
        guard flags == 0 else { throw .invalidField(.flags, found: flags, allowed: "0") }
        guard colorType == 1 || colorType == 3 else {
            throw .invalidField(.colorType, found: colorType, allowed: "1 (gray) or 3 (RGB)")
        }
        guard Layout.allowedBitDepths.contains(bitDepth) else {
            throw .invalidField(.bitDepth, found: bitDepth, allowed: "1, 2, 4, 8 or 16")
        }
        guard (1...UInt64(Layout.maxModelNameBytes)).contains(UInt64(modelName.count)) else {
            throw .invalidField(.modelNameLength, found: UInt64(modelName.count), allowed: "1 to 64")
        }
        if let byte = modelName.first(where: { !(0x20...0x7E).contains($0) }) {
            throw .invalidField(.modelName, found: UInt64(byte), allowed: "printable ASCII (0x20 to 0x7E)")
        }
        guard width >= 1 else { throw .invalidField(.width, found: width, allowed: "at least 1") }
        guard height >= 1 else { throw .invalidField(.height, found: height, allowed: "at least 1") }
        let maxDimension = limit(limits.maxDimension, ceiling: u32)
        guard width <= maxDimension else { throw .limitExceeded(.width, value: width, limit: maxDimension) }
        guard height <= maxDimension else { throw .limitExceeded(.height, value: height, limit: maxDimension) }
        let pixels = width * height  // both < 2^32: no overflow
        let maxPixels = limit(limits.maxPixels, ceiling: .max)
        guard pixels <= maxPixels else { throw .limitExceeded(.pixelCount, value: pixels, limit: maxPixels) }
        guard Layout.allowedStrides.contains(stride) else {
            throw .invalidField(.stride, found: stride, allowed: "1, 2, 4, 8, 16 or 32")
        }
    }

    /// G ≥ 1, G ≤ limit, K ≥ 2, K ≤ limit, in this order (version 1's fields).
    static func checkCodebook(groups: UInt64, codebookSize: UInt64, limits: ContainerLimits) throws(ContainerError) {
        guard groups >= 1 else { throw .invalidField(.groups, found: groups, allowed: "at least 1") }
        let maxGroups = limit(limits.maxGroups, ceiling: UInt64(UInt8.max))
        guard groups <= maxGroups else { throw .limitExceeded(.groups, value: groups, limit: maxGroups) }
        guard codebookSize >= 2 else { throw .invalidField(.codebookSize, found: codebookSize, allowed: "at least 2") }
        let maxCodebookSize = limit(limits.maxCodebookSize, ceiling: UInt64(UInt16.max))
        guard codebookSize <= maxCodebookSize else {
            throw .limitExceeded(.codebookSize, value: codebookSize, limit: maxCodebookSize)
        }
    }

    /// h = ceil(H/S), w = ceil(W/S), 1 ≤ th ≤ h, 1 ≤ tw ≤ w, T ≤ limit, in this order; returns T.
    /// Requires `checkImage` to have passed (width, height ≥ 1 and < 2^32, a valid stride).
    static func checkTiling(width: UInt64, height: UInt64, stride: UInt64, latentHeight: UInt64, latentWidth: UInt64,
                            tileHeight: UInt64, tileWidth: UInt64, limits: ContainerLimits) throws(ContainerError) -> Int {
        let h = (height + stride - 1) / stride
        let w = (width + stride - 1) / stride
        guard latentHeight == h else { throw .inconsistentGeometry(.latentHeight, expected: h, found: latentHeight) }
        guard latentWidth == w else { throw .inconsistentGeometry(.latentWidth, expected: w, found: latentWidth) }
        guard (1...h).contains(tileHeight) else {
            throw .invalidField(.tileHeight, found: tileHeight, allowed: "1 to \(h) (the latent height)")
        }
        guard (1...w).contains(tileWidth) else {
            throw .invalidField(.tileWidth, found: tileWidth, allowed: "1 to \(w) (the latent width)")
        }
        let tiles = ((h + tileHeight - 1) / tileHeight) * ((w + tileWidth - 1) / tileWidth)  // ≤ h·w ≤ pixels
        let maxTiles = limit(limits.maxTiles, ceiling: u32)
        guard tiles <= maxTiles else { throw .limitExceeded(.tileCount, value: tiles, limit: maxTiles) }
        return Int(tiles)
    }
}
