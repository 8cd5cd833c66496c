/// What an encoder chooses for a header: everything but the version and the tile table.
/// ``VQCWriter`` turns it plus the tile streams into a file; ``VQCHeader/fields`` gives it back.
public struct VQCHeaderFields: Equatable, Sendable {
    /// Image width in pixels.
    public var width: Int
    /// Image height in pixels.
    public var height: Int
    public var colorType: VQCColorType
    /// Sample depth of the image the encoder was given: 1, 2, 4, 8 or 16. Informational.
    public var bitDepth: Int
    /// The model's name: 1 to 64 printable ASCII characters.
    public var modelName: String
    /// 64-bit checksum of the model's coding-relevant weights (opaque to the container).
    public var modelChecksum: UInt64
    public var latent: LatentGeometry
    public var tileSize: TileSize

    public init(width: Int, height: Int, colorType: VQCColorType, bitDepth: Int, modelName: String,
                modelChecksum: UInt64, latent: LatentGeometry, tileSize: TileSize) {
        self.width = width
        self.height = height
        self.colorType = colorType
        self.bitDepth = bitDepth
        self.modelName = modelName
        self.modelChecksum = modelChecksum
        self.latent = latent
        self.tileSize = tileSize
    }

    /// Checks the fields with the reader's rules and `limits` (`Formats/vqc.md` §4 step 5), so an
    /// encoder can refuse an image before spending time on it. Returns nothing; throws the first problem.
    public func validate(limits: ContainerLimits = ContainerLimits()) throws(ContainerError) {
        _ = try raw.validate(limits)
    }

    /// Rows of tiles, ceil(latent height / tile height). Requires a positive tile height.
    public var tileRows: Int {
        precondition(tileSize.height > 0, "tile height must be positive")
        return (latent.height + tileSize.height - 1) / tileSize.height
    }

    /// Columns of tiles, ceil(latent width / tile width). Requires a positive tile width.
    public var tileColumns: Int {
        precondition(tileSize.width > 0, "tile width must be positive")
        return (latent.width + tileSize.width - 1) / tileSize.width
    }

    /// Number of tiles, `tileRows × tileColumns`.
    public var tileCount: Int { tileRows * tileColumns }

    /// The latent positions covered by tile `index` (raster order over the tile grid); tiles in
    /// the last row and column are cut to the latent size.
    public func latentRect(ofTile index: Int) -> LatentRect {
        precondition((0..<tileCount).contains(index), "tile index \(index) out of range 0..<\(tileCount)")
        let top = (index / tileColumns) * tileSize.height
        let left = (index % tileColumns) * tileSize.width
        return LatentRect(top: top, left: left,
                          height: min(tileSize.height, latent.height - top),
                          width: min(tileSize.width, latent.width - left))
    }

    /// Size in bytes of the header these fields give: 59 + name bytes + 16 × tiles.
    public var headerByteCount: Int {
        Layout.headerByteCount(nameLength: modelName.utf8.count, tileCount: tileCount)
    }

    var raw: RawFields {
        let numbers = [width, height, bitDepth, latent.height, latent.width, latent.groups, latent.codebookSize,
                       latent.stride, tileSize.height, tileSize.width]
        precondition(numbers.allSatisfy { $0 >= 0 }, "header fields must not be negative: \(self)")
        return RawFields(flags: 0, width: UInt64(width), height: UInt64(height),
                         colorType: UInt64(colorType.rawValue), bitDepth: UInt64(bitDepth),
                         stride: UInt64(latent.stride), groups: UInt64(latent.groups),
                         codebookSize: UInt64(latent.codebookSize),
                         latentHeight: UInt64(latent.height), latentWidth: UInt64(latent.width),
                         tileHeight: UInt64(tileSize.height), tileWidth: UInt64(tileSize.width),
                         modelChecksum: modelChecksum, modelName: Array(modelName.utf8))
    }
}
