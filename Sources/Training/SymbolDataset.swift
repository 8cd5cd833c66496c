import Engine
import Foundation
import Images
import SeededRandom
import Transforms

/// The data of phase II: the symbol maps `[G, h, w]` of whole training images under a trained
/// VQ-VAE, computed once, from which random crops of latent positions are drawn.
///
/// Each image is padded to a multiple of the stride by repeating its edge pixels, then encoded
/// whole, so the maps are the symbols the codec would code. Crops are not flipped: the VQ-VAE is
/// not mirror-equivariant, so a mirrored symbol map is not a map any image produces. Augmentation
/// (``Augmentation/mirrorAndShift``) instead encodes more images: each training image mirrored and
/// shifted by half the stride, real photos whose maps differ from the original's. Every n-th
/// image (`holdOutEvery`) is held out, for the rate on images the prior never trained on; held-out
/// maps are never augmented.
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

    /// More training maps from the same photos.
    public enum Augmentation: String, Codable, Sendable, CaseIterable {
        /// Each image once, as it is.
        case none
        /// Each training image 8 times: as it is and mirrored left to right, each starting at row
        /// 0 or stride/2 and column 0 or stride/2 (the first rows and columns cut off). The
        /// latent grid then samples the photo at other phases, so the maps are new, and each is
        /// the map of a real image. For priors that overfit a small set of maps (stride 16).
        case mirrorAndShift
    }

    /// Encodes every image of `images` with `model`. Image i (0-based, in the dataset's order) is
    /// held out when `holdOutEvery > 0` and `(i + 1) % holdOutEvery == 0`, unless that would leave
    /// no training image. `progress(done, total)` is called after each image.
    public init(images: ImageDataset, model: VQVAE, holdOutEvery: Int, augmentation: Augmentation = .none,
                progress: (Int, Int) -> Void = { _, _ in }) {
        precondition(holdOutEvery >= 0, "holdOutEvery must be ≥ 0")
        let c = model.configuration
        var training: [Map] = [], heldOut: [Map] = []
        func map(_ image: Image, path: String) -> Map {
            let padded = Self.paddedTensor(image, stride: c.stride)
            let (h, w) = (padded.shape[2] / c.stride, padded.shape[3] / c.stride)
            return Map(path: path, pixelCount: image.width * image.height, height: h, width: w,
                       symbols: model.symbols(images: padded))
        }
        for (i, image) in images.images.enumerated() {
            let held = holdOutEvery > 0 && (i + 1) % holdOutEvery == 0 && images.count > 1
            if held {
                heldOut.append(map(image, path: images.paths[i]))
            } else {
                training.append(map(image, path: images.paths[i]))
                if augmentation == .mirrorAndShift {
                    for variant in Self.variants(of: image, stride: c.stride) {
                        training.append(map(variant.image, path: images.paths[i] + "#" + variant.name))
                    }
                }
            }
            progress(i + 1, images.count)
        }
        self.init(groups: c.groups, codebookSize: c.codebookSize, training: training, heldOut: heldOut)
    }

    /// The 7 variants ``Augmentation/mirrorAndShift`` adds to `image`, named for the map paths
    /// ("mirrored", "shift 0,4", …: rows, then columns cut off). A shift that would leave less than
    /// one stride of image is skipped.
    static func variants(of image: Image, stride: Int) -> [(name: String, image: Image)] {
        let rgb = image.converted(to: .rgb)
        let half = stride / 2
        var out: [(String, Image)] = []
        for mirrored in [false, true] {
            for (top, left) in [(0, 0), (0, half), (half, 0), (half, half)] {
                if !mirrored && top == 0 && left == 0 { continue }
                let (w, h) = (rgb.width - left, rgb.height - top)
                if w < stride || h < stride { continue }
                var pixels = [UInt8](repeating: 0, count: w * h * 3)
                for y in 0..<h {
                    for x in 0..<w {
                        let sourceX = mirrored ? rgb.width - 1 - (left + x) : left + x
                        let source = ((top + y) * rgb.width + sourceX) * 3
                        let target = (y * w + x) * 3
                        pixels[target] = rgb.pixels[source]
                        pixels[target + 1] = rgb.pixels[source + 1]
                        pixels[target + 2] = rgb.pixels[source + 2]
                    }
                }
                let name = (mirrored ? "mirrored" : "") + (top > 0 || left > 0 ? (mirrored ? ", " : "") + "shift \(top),\(left)" : "")
                out.append((name, Image(width: w, height: h, colorType: .rgb, pixels: pixels)))
            }
        }
        return out
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
