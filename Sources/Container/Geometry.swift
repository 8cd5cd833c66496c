/// Colour type of the image, with PNG's numbering (`Formats/vqc.md` §2.2).
public enum VQCColorType: UInt8, Sendable, CaseIterable {
    /// One channel.
    case gray = 1
    /// Three channels, red, green, blue.
    case rgb = 3

    /// Number of channels: 1 or 3.
    public var channels: Int { self == .gray ? 1 : 3 }
}

/// The shape of the symbolic image: `groups` symbols in `0 ..< codebookSize` at each of
/// `height × width` latent positions, one position per `stride × stride` pixels.
///
/// Invariant in a valid header: `height == ceil(imageHeight / stride)`, `width == ceil(imageWidth / stride)`.
public struct LatentGeometry: Equatable, Sendable {
    /// Latent rows, h.
    public var height: Int
    /// Latent columns, w.
    public var width: Int
    /// Symbols per position, G (product quantization: one codebook per group).
    public var groups: Int
    /// Codes per group, K.
    public var codebookSize: Int
    /// Pixels per latent position along each axis, S: 1, 2, 4, 8, 16 or 32.
    public var stride: Int

    public init(height: Int, width: Int, groups: Int, codebookSize: Int, stride: Int) {
        self.height = height
        self.width = width
        self.groups = groups
        self.codebookSize = codebookSize
        self.stride = stride
    }

    /// The geometry of an image of `imageWidth × imageHeight` pixels at `stride`:
    /// `height = ceil(imageHeight / stride)`, `width = ceil(imageWidth / stride)`.
    public init(imageWidth: Int, imageHeight: Int, stride: Int, groups: Int, codebookSize: Int) {
        precondition(stride > 0 && imageWidth >= 0 && imageHeight >= 0, "stride must be positive, sizes non-negative")
        self.init(height: (imageHeight + stride - 1) / stride, width: (imageWidth + stride - 1) / stride,
                  groups: groups, codebookSize: codebookSize, stride: stride)
    }
}

/// The size of a tile, in latent positions. Tiles cut the latent grid in raster order; those in
/// the last row and column are smaller when the size does not divide the grid.
public struct TileSize: Equatable, Sendable {
    /// Latent rows per tile, th (1 ... latent height).
    public var height: Int
    /// Latent columns per tile, tw (1 ... latent width).
    public var width: Int

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }
}

/// A rectangle of latent positions: rows `top ..< top + height`, columns `left ..< left + width`.
public struct LatentRect: Equatable, Sendable {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top
        self.left = left
        self.height = height
        self.width = width
    }

    /// Number of latent positions in the rectangle.
    public var positionCount: Int { height * width }
}

/// One row of the tile table: where a tile's range-coder stream lies in the file, and its CRC-32.
public struct TileEntry: Equatable, Sendable {
    /// Byte offset of the stream from the start of the file.
    public var offset: Int
    /// Length of the stream in bytes (at least 1 in a valid file).
    public var length: Int
    /// CRC-32 of the stream's bytes.
    public var crc32: UInt32

    public init(offset: Int, length: Int, crc32: UInt32) {
        self.offset = offset
        self.length = length
        self.crc32 = crc32
    }

    /// Byte offset just past the stream.
    public var end: Int { offset + length }
}
