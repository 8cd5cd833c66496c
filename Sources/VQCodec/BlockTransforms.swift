import Container
import Images
import Transforms

/// The analysis and synthesis transforms run over the latent grid block by block, so their
/// working memory depends on the block size, not on the image size.
///
/// Each block of `block × block` latent positions is computed from a crop that extends its halo
/// (``VQVAE/analysisHalo``, ``VQVAE/synthesisHalo``: the transforms' receptive radius, rounded up)
/// past the block on every side where the grid goes on. Inside the block the crop's result is then
/// the whole-image result: zero padding at the crop's edges reaches no further than the halo, and
/// crops start on multiples of the stride, so strided convolutions sample the whole image's grid.
/// Only the float summation order of the matrix products may differ between crop sizes; measured
/// on the shipped models the pixels were identical (VQCodecTests.BlockTransformTests).
///
/// Blocks run one after another (the transforms are not reentrant; each block's matrix products
/// use every core), and write their pixels into the output image as they finish.
enum BlockTransforms {
    /// The symbols `[G, h, w]` of `image`: analysis and nearest codes, block by block.
    static func symbols(of image: Image, model: CodecModel, block: Int) -> [Int32] {
        let config = model.configuration
        let stride = config.stride
        let h = Pixels.roundUp(image.height, to: stride) / stride
        let w = Pixels.roundUp(image.width, to: stride) / stride
        var symbols = [Int32](repeating: 0, count: config.groups * h * w)
        model.withTransforms { vqvae in
            let halo = vqvae.analysisHalo
            for core in blocks(height: h, width: w, block: block) {
                let outer = expand(core, by: halo, height: h, width: w)
                let input = Pixels.tensor(from: image, top: outer.top * stride, left: outer.left * stride,
                                          height: outer.height * stride, width: outer.width * stride)
                let found = vqvae.symbols(images: input)  // [G, outer.height, outer.width]
                for g in 0..<config.groups {
                    for y in 0..<core.height {
                        let source = (g * outer.height + core.top - outer.top + y) * outer.width + core.left - outer.left
                        let target = (g * h + core.top + y) * w + core.left
                        for x in 0..<core.width { symbols[target + x] = found[source + x] }
                    }
                }
            }
        }
        return symbols
    }

    /// The image `width × height` synthesised from `symbols` `[G, h, w]`, block by block, then
    /// with the pixel rectangles `fill` set to mid-grey (128). `halo` overrides the synthesis halo (tests).
    static func image(symbols: [Int32], latentHeight h: Int, latentWidth w: Int, width: Int, height: Int,
                      colorType: Image.ColorType, model: CodecModel, block: Int,
                      fill: [(x: Int, y: Int, width: Int, height: Int)] = [], halo: Int? = nil) -> Image {
        let config = model.configuration
        let stride = config.stride
        precondition(symbols.count == config.groups * h * w)
        var pixels = [UInt8](repeating: 0, count: width * height * colorType.channels)
        model.withTransforms { vqvae in
            let halo = halo ?? vqvae.synthesisHalo
            for core in blocks(height: h, width: w, block: block) {
                let outer = expand(core, by: halo, height: h, width: w)
                let crop = Tiles.extract(symbols, groups: config.groups, latentWidth: w, latentHeight: h, rect: outer)
                let reconstruction = vqvae.reconstruct(symbols: crop, batch: 1, height: outer.height, width: outer.width)
                let rows = (core.top * stride)..<min((core.top + core.height) * stride, height)
                let columns = (core.left * stride)..<min((core.left + core.width) * stride, width)
                Pixels.write(reconstruction, originTop: outer.top * stride, originLeft: outer.left * stride,
                             rows: rows, columns: columns, into: &pixels, imageWidth: width, colorType: colorType)
            }
        }
        let channels = colorType.channels
        for rect in fill {
            for y in rect.y..<(rect.y + rect.height) {
                let start = (y * width + rect.x) * channels
                pixels.replaceSubrange(start..<(start + rect.width * channels), with: repeatElement(128, count: rect.width * channels))
            }
        }
        return Image(width: width, height: height, colorType: colorType, pixels: pixels)
    }

    /// The grid `height × width` cut into blocks of `block × block` positions in raster order.
    static func blocks(height: Int, width: Int, block: Int) -> [LatentRect] {
        precondition(block > 0)
        var rects: [LatentRect] = []
        for top in Swift.stride(from: 0, to: height, by: block) {
            for left in Swift.stride(from: 0, to: width, by: block) {
                rects.append(LatentRect(top: top, left: left, height: min(block, height - top), width: min(block, width - left)))
            }
        }
        return rects
    }

    /// `rect` grown by `margin` on every side, cut to the grid.
    static func expand(_ rect: LatentRect, by margin: Int, height: Int, width: Int) -> LatentRect {
        let top = max(0, rect.top - margin), left = max(0, rect.left - margin)
        let bottom = min(height, rect.top + rect.height + margin), right = min(width, rect.left + rect.width + margin)
        return LatentRect(top: top, left: left, height: bottom - top, width: right - left)
    }
}
