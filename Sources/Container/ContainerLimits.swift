/// Resource limits a reader (and the writer) applies to a header before allocating anything
/// from it (`Formats/vqc.md` §3). The defaults accept every image vqcodec encodes; raise them only
/// for files you trust. A value above the format's own ceiling (the width of its field) acts as that ceiling.
public struct ContainerLimits: Equatable, Sendable {
    /// Largest width and largest height, in pixels. Default 65535.
    public var maxDimension: Int
    /// Largest width × height, in pixels. Default 2^28 (268 MP).
    public var maxPixels: Int
    /// Largest number of groups G (of each stage, in version 2). Default 16 (format ceiling 255).
    public var maxGroups: Int
    /// Largest codebook size K (of each stage, in version 2). Default 4096 (format ceiling 65535).
    public var maxCodebookSize: Int
    /// Largest number of tiles. Default 2^20, which bounds the header at about 16 MiB
    /// (format ceiling 2^32 − 1).
    public var maxTiles: Int
    /// Largest number of stages in a version-2 (progressive) file. Default 16 (format ceiling 255).
    /// ``maxGroups`` and ``maxCodebookSize`` apply to each stage.
    public var maxStages: Int
    /// Largest sum of the stages' groups, Σ G_k, in a version-2 file: the symbols per latent position
    /// a decoder must hold. Default 64 (format ceiling 255 × 255).
    public var maxTotalGroups: Int
    /// Largest number of streams, stages × tiles, in a version-2 file. Default 2^20, which bounds
    /// its header at about 16 MiB as ``maxTiles`` bounds a version-1 header (format ceiling 2^32 − 1).
    public var maxStreams: Int

    public init(maxDimension: Int = 65535, maxPixels: Int = 1 << 28, maxGroups: Int = 16,
                maxCodebookSize: Int = 4096, maxTiles: Int = 1 << 20, maxStages: Int = 16,
                maxTotalGroups: Int = 64, maxStreams: Int = 1 << 20) {
        self.maxDimension = maxDimension
        self.maxPixels = maxPixels
        self.maxGroups = maxGroups
        self.maxCodebookSize = maxCodebookSize
        self.maxTiles = maxTiles
        self.maxStages = maxStages
        self.maxTotalGroups = maxTotalGroups
        self.maxStreams = maxStreams
    }
}
