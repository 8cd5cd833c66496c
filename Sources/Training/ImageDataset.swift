import Engine
import Foundation
import Images
import SeededRandom

/// Training images: every PNG of one folder, loaded once and held as 8-bit RGB (gray files are
/// replicated into three channels), from which random square crops are drawn.
///
/// Files are taken in byte order of their names so that the same folder and seed give the same
/// crops. A PNG that cannot be read is skipped and listed in ``skipped`` with the reason, so the
/// caller can say so; a folder with no readable PNG is an error.
public struct ImageDataset: Sendable {
    /// A file that was skipped, and why.
    public struct SkippedFile: Sendable, Equatable {
        public var path: String
        public var reason: String
    }

    public let folder: String
    /// Paths of the images loaded, in the order crops index them.
    public let paths: [String]
    public let skipped: [SkippedFile]
    let images: [Image]

    /// Loads every `*.png` (any case) directly inside `folder`; subfolders are not searched.
    public init(folder: String) throws(ImageDatasetError) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else { throw .folderNotFound(folder) }
        guard isFolder.boolValue else { throw .notAFolder(folder) }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .unreadableFolder(folder, reason: error.localizedDescription)
        }
        let pngs = names.filter { $0.lowercased().hasSuffix(".png") && !$0.hasPrefix(".") }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var paths: [String] = [], images: [Image] = [], skipped: [SkippedFile] = []
        for name in pngs {
            let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            do {
                images.append(try PNG.read(path: path).converted(to: .rgb))
                paths.append(path)
            } catch {
                skipped.append(SkippedFile(path: path, reason: error.description))
            }
        }
        guard !images.isEmpty else { throw .noImages(folder, pngFiles: pngs.count) }
        self.init(folder: folder, paths: paths, images: images, skipped: skipped)
    }

    /// A dataset of images already in memory (gray images are replicated into RGB).
    public init(images: [Image], folder: String = "(memory)") {
        precondition(!images.isEmpty, "a dataset needs at least one image")
        self.init(folder: folder, paths: images.indices.map { "\(folder)#\($0)" },
                  images: images.map { $0.converted(to: .rgb) }, skipped: [])
    }

    private init(folder: String, paths: [String], images: [Image], skipped: [SkippedFile]) {
        self.folder = folder
        self.paths = paths
        self.images = images
        self.skipped = skipped
    }

    public var count: Int { images.count }

    /// Total pixels of all images.
    public var pixelCount: Int { images.reduce(0) { $0 + $1.width * $1.height } }

    /// A batch `[size, 3, crop, crop]` of pixel / 255 values: for each item an image chosen
    /// uniformly, a crop position chosen uniformly among those inside the image, and a horizontal
    /// flip with probability 1/2. An image smaller than the crop is extended by repeating its edge
    /// pixels (and placed at a random offset inside the crop where it is smaller).
    public func batch(size: Int, crop: Int, using generator: inout SplitMix64) -> Tensor {
        precondition(size > 0 && crop > 0, "a batch needs items and a crop size")
        var tensor = Tensor(zeros: [size, 3, crop, crop])
        for item in 0..<size {
            let index = Int(generator.next() % UInt64(images.count))
            let image = images[index]
            let top = Self.offset(extent: image.height, crop: crop, using: &generator)
            let left = Self.offset(extent: image.width, crop: crop, using: &generator)
            let flip = generator.next() & 1 == 1
            fill(&tensor.data, item: item, image: image, top: top, left: left, crop: crop, flip: flip)
        }
        return tensor
    }

    /// Top (or left) of a crop: in `0 ... extent − crop` when the image is large enough, otherwise
    /// a negative offset in `extent − crop ... 0`, which places the image somewhere inside the crop.
    static func offset(extent: Int, crop: Int, using generator: inout SplitMix64) -> Int {
        let span = abs(extent - crop) + 1
        let r = Int(generator.next() % UInt64(span))
        return extent >= crop ? r : -r
    }

    /// Writes crop `[top ..< top+crop, left ..< left+crop]` of `image` (coordinates outside the
    /// image clamped to its edge), mirrored left–right when `flip`, as item `item` of an NCHW batch.
    func fill(_ data: inout [Float], item: Int, image: Image, top: Int, left: Int, crop: Int, flip: Bool) {
        let plane = crop * crop
        let base = item * 3 * plane
        image.pixels.withUnsafeBufferPointer { pixels in
            data.withUnsafeMutableBufferPointer { out in
                for y in 0..<crop {
                    let sy = min(max(top + y, 0), image.height - 1)
                    let row = sy * image.width
                    for x in 0..<crop {
                        let sx = min(max(left + (flip ? crop - 1 - x : x), 0), image.width - 1)
                        let p = (row + sx) * 3
                        let o = base + y * crop + x
                        out[o] = Float(pixels[p]) / 255
                        out[o + plane] = Float(pixels[p + 1]) / 255
                        out[o + 2 * plane] = Float(pixels[p + 2]) / 255
                    }
                }
            }
        }
    }
}

/// Why a folder of training images could not be used.
public enum ImageDatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    case folderNotFound(String)
    case notAFolder(String)
    case unreadableFolder(String, reason: String)
    /// The folder holds no PNG that could be read; `pngFiles` counts the PNG names found.
    case noImages(String, pngFiles: Int)

    public var description: String {
        switch self {
        case .folderNotFound(let folder):
            return "\(folder): no such folder; --data must name a folder of PNG training images"
        case .notAFolder(let folder):
            return "\(folder): is a file, not a folder; --data must name a folder of PNG training images"
        case .unreadableFolder(let folder, let reason):
            return "\(folder): cannot list the folder: \(reason)"
        case .noImages(let folder, let count):
            return count == 0
                ? "\(folder): the folder has no .png files to train on"
                : "\(folder): none of its \(count) .png files could be read (see the messages above)"
        }
    }
}
