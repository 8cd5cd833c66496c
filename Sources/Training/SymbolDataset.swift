import Engine
import Foundation
import Images
import Transforms

/// The data of phase II: the symbol maps `[G, h, w]` of whole training images under a trained
/// VQ-VAE, computed once, from which random crops of latent positions are drawn.
///
/// Each image is padded to a multiple of the stride by repeating its edge pixels, then encoded
/// whole, so the maps are the symbols the codec would code. Crops are not flipped: the VQ-VAE is
/// not mirror-equivariant, so a mirrored symbol map is not a map any image produces. Every n-th
/// image (`holdOutEvery`) is held out, for the rate on images the prior never trained on.
public struct SymbolDataset: Sendable {
    /// One image's symbols.
    public struct Map: Sendable, Equatable {
        public var path: String
        /// Pixels of the image before padding, for bits per pixel.
        public var pixelCount: Int
        /// Latent positions: rows and columns.
        public var height: Int
        public var width: Int
        /// `[G, height, width]`, each in 0..<K.
        public var symbols: [Int32]

        public init(path: String, pixelCount: Int, height: Int, width: Int, symbols: [Int32]) {
            self.path = path
            self.pixelCount = pixelCount
            self.height = height
            self.width = width
            self.symbols = symbols
        }
    }

    public let groups: Int
    public let codebookSize: Int
    /// Maps random crops are drawn from.
    public let training: [Map]
    /// Maps kept for evaluation.
    public let heldOut: [Map]

    /// Maps already computed (tests, cached symbols). `training` must not be empty; every map
    /// holds `groups · height · width` symbols in 0..<codebookSize.
    public init(groups: Int, codebookSize: Int, training: [Map], heldOut: [Map]) {
        precondition(!training.isEmpty, "phase II needs at least one training map")
        for map in training + heldOut {
            precondition(map.symbols.count == groups * map.height * map.width, "map \(map.path) does not hold [\(groups), \(map.height), \(map.width)] symbols")
            precondition(map.symbols.allSatisfy { $0 >= 0 && Int($0) < codebookSize }, "map \(map.path) has a symbol outside 0..<\(codebookSize)")
        }
        self.groups = groups
        self.codebookSize = codebookSize
        self.training = training
        self.heldOut = heldOut
    }

    /// Encodes every image of `images` with `model`. Image i (0-based, in the dataset's order) is
    /// held out when `holdOutEvery > 0` and `(i + 1) % holdOutEvery == 0`, unless that would leave
    /// no training image. `progress(done, total)` is called after each image.
    public init(images: ImageDataset, model: VQVAE, holdOutEvery: Int, progress: (Int, Int) -> Void = { _, _ in }) {
        precondition(holdOutEvery >= 0, "holdOutEvery must be ≥ 0")
        let c = model.configuration
        var training: [Map] = [], heldOut: [Map] = []
        for (i, image) in images.images.enumerated() {
            let padded = Self.paddedTensor(image, stride: c.stride)
            let (h, w) = (padded.shape[2] / c.stride, padded.shape[3] / c.stride)
            let map = Map(path: images.paths[i], pixelCount: image.width * image.height, height: h, width: w,
                          symbols: model.symbols(images: padded))
            let held = holdOutEvery > 0 && (i + 1) % holdOutEvery == 0 && images.count > 1
            if held { heldOut.append(map) } else { training.append(map) }
            progress(i + 1, images.count)
        }
        self.init(groups: c.groups, codebookSize: c.codebookSize, training: training, heldOut: heldOut)
    }

    /// The image as `[1, 3, H', W']` floats (pixel / 255), H' and W' rounded up to multiples of
    /// `stride` by repeating the last row and column.
    static func paddedTensor(_ image: Image, stride: Int) -> Tensor {
        let rgb = image.converted(to: .rgb)
        let height = (rgb.height + stride - 1) / stride * stride
        let width = (rgb.width + stride - 1) / stride * stride
        let plane = height * width
        var data = [Float](repeating: 0, count: 3 * plane)
        rgb.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<height {
                let row = min(y, rgb.height - 1) * rgb.width
                for x in 0..<width {
                    let p = (row + min(x, rgb.width - 1)) * 3
                    for channel in 0..<3 { data[channel * plane + y * width + x] = Float(pixels[p + channel]) / 255 }
                }
            }
        }
        return Tensor(shape: [1, 3, height, width], data: data)
    }

    /// The largest square crop every training map can give.
    public var largestCrop: Int { training.map { min($0.height, $0.width) }.min()! }

    /// Symbols the training maps hold, over all groups.
    public var trainingSymbolCount: Int { training.reduce(0) { $0 + $1.symbols.count } }

    /// A batch `[size, G, crop, crop]` of random crops: for each item a training map chosen
    /// uniformly, then a position chosen uniformly among those where the crop fits.
    /// `crop` must be at most `largestCrop`.
    public func batch(size: Int, crop: Int, using generator: inout SplitMix64) -> [Int32] {
        precondition(size > 0 && crop > 0 && crop <= largestCrop, "crop \(crop) must be in 1…\(largestCrop)")
        var out = [Int32](repeating: 0, count: size * groups * crop * crop)
        for item in 0..<size {
            let map = training[Int(generator.next() % UInt64(training.count))]
            let top = Int(generator.next() % UInt64(map.height - crop + 1))
            let left = Int(generator.next() % UInt64(map.width - crop + 1))
            for g in 0..<groups {
                for y in 0..<crop {
                    let source = (g * map.height + top + y) * map.width + left
                    let target = ((item * groups + g) * crop + y) * crop
                    out[target..<(target + crop)] = map.symbols[source..<(source + crop)]
                }
            }
        }
        return out
    }
}
