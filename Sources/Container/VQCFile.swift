/// A whole `.vqc` file in memory, its header validated and its size checked against the tile table
/// (`Formats/vqc.md` §4 steps 1–9). Tile CRCs are checked when a tile is read, so tiles can be
/// decoded in parallel and a damaged tile does not stop the others.
public struct VQCFile: Sendable {
    /// The validated header.
    public let header: VQCHeader
    /// The file's bytes.
    public let bytes: [UInt8]

    /// Parses `bytes`, the whole file. Throws the first problem found, in the order of `Formats/vqc.md` §4:
    /// a file cut short anywhere gives ``ContainerError/truncatedHeader(needed:present:)`` or
    /// ``ContainerError/truncatedTile(tile:expectedEnd:fileSize:)``; extra bytes after the last tile give
    /// ``ContainerError/trailingBytes(expectedSize:fileSize:)``.
    public init(bytes: [UInt8], limits: ContainerLimits = ContainerLimits()) throws(ContainerError) {
        let header = try VQCHeader.read(from: bytes, limits: limits)
        if let index = header.tiles.firstIndex(where: { $0.end > bytes.count }) {
            throw .truncatedTile(tile: index, expectedEnd: header.tiles[index].end, fileSize: bytes.count)
        }
        let end = header.tiles.last!.end  // a valid header has at least one tile
        guard end == bytes.count else { throw .trailingBytes(expectedSize: end, fileSize: bytes.count) }
        self.header = header
        self.bytes = bytes
    }

    /// The range-coder stream of tile `index` (`0 ..< header.tileCount`), after checking its CRC-32.
    /// Throws ``ContainerError/tileCRCMismatch(tile:stored:computed:)`` when the tile is damaged.
    public func tileStream(_ index: Int) throws(ContainerError) -> ArraySlice<UInt8> {
        precondition(header.tiles.indices.contains(index), "tile index \(index) out of range 0..<\(header.tileCount)")
        let tile = header.tiles[index]
        if let problem = VQCHeader.check(tile, index: index, in: bytes) { throw problem }
        return bytes[tile.offset..<tile.end]
    }

    /// Checks every tile's CRC-32; returns the damaged tiles' errors by index (empty when all are intact).
    public func verifyAllTiles() -> [Int: ContainerError] {
        header.verifyTiles(in: bytes)
    }
}
