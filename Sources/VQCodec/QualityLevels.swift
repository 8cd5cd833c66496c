import Foundation
import Images
import ShippedModels

extension CodecModel {
    /// Loads the shipped model of quality level `quality` (1 is the lowest rate; see
    /// `ShippedModels.levels()` for the list and what each reached on Kodak).
    public static func shipped(quality: Int) throws -> CodecModel {
        let catalogue = try ShippedModels.levels()
        guard let level = catalogue.level(quality) else { throw CodecError.noSuchQuality(quality, available: catalogue.levels.count) }
        return try CodecModel(path: catalogue.path(of: level))
    }
}

extension VQCodec {
    /// What ``encode(_:fitting:levels:model:options:)`` chose.
    public struct RateFit: Sendable {
        /// Index of the chosen model among the levels (0 is the lowest quality).
        public var level: Int
        public var result: EncodeResult
        /// False when even the lowest level's file exceeds the target (then `level` is 0).
        public var fits: Bool
        /// Real bits per pixel of every level tried, by index.
        public var tried: [Int: Double]
    }

    /// Encodes `image` with the highest quality level whose real file fits `bitsPerPixel`
    /// (8 × file bytes / pixels), or with the lowest level when none fits.
    ///
    /// `model(i)` gives the model of level `i` for `i` in `0..<levels`, lowest quality first; it is
    /// called only for the levels tried. The search is a bisection, so it encodes about
    /// log2(levels) + 1 times; it assumes the file size grows with the level, which holds for the
    /// shipped levels on natural images (each level spends more bits on every image).
    public static func encode(_ image: Image, fitting bitsPerPixel: Double, levels: Int, model: (Int) throws -> CodecModel,
                              options: EncodeOptions = EncodeOptions()) throws -> RateFit {
        precondition(levels > 0, "at least one level")
        var results: [Int: EncodeResult] = [:]
        func result(_ level: Int) throws -> EncodeResult {
            if let known = results[level] { return known }
            let encoded = try encode(image, model: try model(level), options: options)
            results[level] = encoded
            return encoded
        }
        var best: Int?
        var (low, high) = (0, levels - 1)
        while low <= high {
            let middle = (low + high) / 2
            if try result(middle).bitsPerPixel <= bitsPerPixel {
                best = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        let chosen = best ?? 0
        return RateFit(level: chosen, result: try result(chosen), fits: best != nil,
                       tried: results.mapValues(\.bitsPerPixel))
    }
}
