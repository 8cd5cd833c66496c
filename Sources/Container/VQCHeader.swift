/// The header of a `.vqc` file (`Formats/vqc.md` §2), parsed and validated.
///
/// Get one from ``read(from:limits:)`` (header only) or ``VQCFile/header`` (whole file).
/// Every value satisfies the format's rules and the limits it was read with.
public struct VQCHeader: Equatable, Sendable {
    /// The format version this code reads and writes.
    public static let currentVersion: UInt16 = 1
    /// The 8-byte signature every `.vqc` file starts with: `89 56 51 43 0D 0A 1A 0A`.
    public static let signature: [UInt8] = vqcSignature

    /// Format version (always ``currentVersion`` once read).
    public let version: UInt16
    /// Image width in pixels.
    public let width: Int
    /// Image height in pixels.
    public let height: Int
    public let colorType: VQCColorType
    /// Sample depth of the original image: 1, 2, 4, 8 or 16. Informational.
    public let bitDepth: Int
    /// The model's name, 1 to 64 printable ASCII characters.
    public let modelName: String
    /// 64-bit checksum of the model's coding-relevant weights.
    public let modelChecksum: UInt64
    public let latent: LatentGeometry
    /// Tile size in latent positions.
    public let tileSize: TileSize
    /// One entry per tile, in raster order: contiguous streams starting at ``headerByteCount``.
    public let tiles: [TileEntry]

    init(fields: VQCHeaderFields, tiles: [TileEntry]) {
        version = Self.currentVersion
        width = fields.width
        height = fields.height
        colorType = fields.colorType
        bitDepth = fields.bitDepth
        modelName = fields.modelName
        modelChecksum = fields.modelChecksum
        latent = fields.latent
        tileSize = fields.tileSize
        self.tiles = tiles
    }

    /// Everything but the version and the tile table: what ``VQCWriter`` needs to write this header again.
    public var fields: VQCHeaderFields {
        VQCHeaderFields(width: width, height: height, colorType: colorType, bitDepth: bitDepth,
                        modelName: modelName, modelChecksum: modelChecksum, latent: latent, tileSize: tileSize)
    }

    /// Number of tiles, ceil(h / th) × ceil(w / tw).
    public var tileCount: Int { tiles.count }
    /// Rows of tiles, ceil(h / th).
    public var tileRows: Int { fields.tileRows }
    /// Columns of tiles, ceil(w / tw).
    public var tileColumns: Int { fields.tileColumns }
    /// The latent positions covered by tile `index`.
    public func latentRect(ofTile index: Int) -> LatentRect { fields.latentRect(ofTile: index) }

    /// Header size in bytes, tile table and CRCs included: where tile 0's stream starts.
    public var headerByteCount: Int { Layout.headerByteCount(nameLength: modelName.utf8.count, tileCount: tiles.count) }
    /// Total bytes of the tile streams.
    public var payloadByteCount: Int { tiles.reduce(0) { $0 + $1.length } }
    /// Size of the whole file: header plus streams.
    public var fileByteCount: Int { headerByteCount + payloadByteCount }
    /// Rate of the whole file, header included: 8 × file bytes / (width × height).
    public var bitsPerPixel: Double { 8 * Double(fileByteCount) / (Double(width) * Double(height)) }

    /// Throws ``ContainerError/wrongModel(fileModel:fileChecksum:givenModel:givenChecksum:)`` unless the
    /// given model's name and checksum are this file's.
    public func requireModel(name: String, checksum: UInt64) throws(ContainerError) {
        guard name == modelName && checksum == modelChecksum else {
            throw .wrongModel(fileModel: modelName, fileChecksum: modelChecksum, givenModel: name, givenChecksum: checksum)
        }
    }

    /// Checks every tile against the file's bytes: which tiles are cut off by the end of `fileBytes`
    /// (``ContainerError/truncatedTile(tile:expectedEnd:fileSize:)``) or fail their CRC
    /// (``ContainerError/tileCRCMismatch(tile:stored:computed:)``). Empty when every tile is intact.
    /// Works on a truncated file too, so a tool can show what survived.
    public func verifyTiles(in fileBytes: [UInt8]) -> [Int: ContainerError] {
        var problems: [Int: ContainerError] = [:]
        for (index, tile) in tiles.enumerated() {
            if let problem = Self.check(tile, index: index, in: fileBytes) { problems[index] = problem }
        }
        return problems
    }

    static func check(_ tile: TileEntry, index: Int, in fileBytes: [UInt8]) -> ContainerError? {
        guard tile.end <= fileBytes.count else {
            return .truncatedTile(tile: index, expectedEnd: tile.end, fileSize: fileBytes.count)
        }
        let computed = crc32(fileBytes[tile.offset..<tile.end])
        return computed == tile.crc32 ? nil : .tileCRCMismatch(tile: index, stored: tile.crc32, computed: computed)
    }
}
