import Engine
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
/// Blocks run one after another (the transforms are not reentrant; each layer spreads a block over
/// every core in chunks fixed by the block's size, so the result does not depend on the core
/// count), and write their pixels into the output image as they finish. No backward pass follows,
/// so the layers keep no caches for one (`ForwardCaches`).
enum BlockTransforms {
    /// The symbols `[G, h, w]` of `image`: analysis and nearest codes, block by block.
    static func symbols(of image: Image, model: CodecModel, block: Int) -> [Int32] {
        let config = model.configuration
        return model.withTransforms { vqvae in
            stageSymbols(of: image, stride: config.stride, groups: [config.groups], halo: vqvae.analysisHalo,
                         block: block) { [vqvae.symbols(images: $0)] }[0]
        }
    }

    /// The image `width × height` synthesised from `symbols` `[G, h, w]`, block by block, then
    /// with the pixel rectangles `fill` set to mid-grey (128). `halo` overrides the synthesis halo (tests).
    static func image(symbols: [Int32], latentHeight h: Int, latentWidth w: Int, width: Int, height: Int,
                      colorType: Image.ColorType, model: CodecModel, block: Int,
                      fill: [(x: Int, y: Int, width: Int, height: Int)] = [], halo: Int? = nil) -> Image {
        let config = model.configuration
        return model.withTransforms { vqvae in
            image(stageSymbols: [symbols], groups: [config.groups], latentHeight: h, latentWidth: w, width: width,
                  height: height, colorType: colorType, stride: config.stride, halo: halo ?? vqvae.synthesisHalo,
                  block: block, fill: fill) { crops, outer in
                vqvae.reconstruct(symbols: crops[0], batch: 1, height: outer.height, width: outer.width)
            }
        }
    }

    /// Each stage's symbols `[G_k, h, w]` of `image`, block by block: `analyse` maps a crop
    /// `[1, 3, H, W]` (sides multiples of `stride`) to the symbols `[G_k, H/stride, W/stride]` of
    /// each stage, `groups[k]` = G_k; `halo` is the analysis halo in latent positions.
    static func stageSymbols(of image: Image, stride: Int, groups: [Int], halo: Int, block: Int,
                             analyse: (Tensor) -> [[Int32]]) -> [[Int32]] {
        let h = Pixels.roundUp(image.height, to: stride) / stride
        let w = Pixels.roundUp(image.width, to: stride) / stride
        var symbols = groups.map { [Int32](repeating: 0, count: $0 * h * w) }
        for core in blocks(height: h, width: w, block: block) {
            let outer = expand(core, by: halo, height: h, width: w)
            let input = Pixels.tensor(from: image, top: outer.top * stride, left: outer.left * stride,
                                      height: outer.height * stride, width: outer.width * stride)
            // [G_k, outer.height, outer.width] per stage; no backward follows.
            let found = ForwardCaches.$kept.withValue(false) { analyse(input) }
            precondition(found.count == groups.count)
            for (k, stageGroups) in groups.enumerated() {
                copyCore(found[k], planes: stageGroups, outer: outer, core: core, into: &symbols[k], height: h, width: w)
            }
        }
        return symbols
    }

    /// The analysis output `[C, h, w]` of `image`, block by block like ``stageSymbols(of:stride:groups:halo:block:analyse:)``:
    /// `analyse` maps a crop `[1, 3, H, W]` to its latent `[1, C, H/stride, W/stride]`.
    static func latent(of image: Image, stride: Int, channels: Int, halo: Int, latentHeight h: Int,
                       latentWidth w: Int, block: Int, analyse: (Tensor) -> Tensor) -> [Float] {
        var latent = [Float](repeating: 0, count: channels * h * w)
        for core in blocks(height: h, width: w, block: block) {
            let outer = expand(core, by: halo, height: h, width: w)
            let input = Pixels.tensor(from: image, top: outer.top * stride, left: outer.left * stride,
                                      height: outer.height * stride, width: outer.width * stride)
            let found = ForwardCaches.$kept.withValue(false) { analyse(input).data }  // no backward follows
            copyCore(found, planes: channels, outer: outer, core: core, into: &latent, height: h, width: w)
        }
        return latent
    }

    /// Copies the `core` positions of `planes` planes over the rect `outer` into the same planes of
    /// the grid `height × width`.
    private static func copyCore<Value>(_ source: [Value], planes: Int, outer: LatentRect, core: LatentRect,
                                        into grid: inout [Value], height h: Int, width w: Int) {
        for p in 0..<planes {
            for y in 0..<core.height {
                let from = (p * outer.height + core.top - outer.top + y) * outer.width + core.left - outer.left
                let to = (p * h + core.top + y) * w + core.left
                for x in 0..<core.width { grid[to + x] = source[from + x] }
            }
        }
    }

    /// The image `width × height` synthesised, block by block, from the stages' symbols
    /// `[G_k, h, w]` (`groups[k]` = G_k): `synthesise` maps the stages' crops of the latent rect
    /// `outer` to pixels `[1, C, outer.height·stride, outer.width·stride]`. Then the pixel rectangles
    /// `fill` are set to mid-grey (128).
    static func image(stageSymbols: [[Int32]], groups: [Int], latentHeight h: Int, latentWidth w: Int, width: Int,
                      height: Int, colorType: Image.ColorType, stride: Int, halo: Int, block: Int,
                      fill: [(x: Int, y: Int, width: Int, height: Int)] = [],
                      synthesise: (_ crops: [[Int32]], _ outer: LatentRect) -> Tensor) -> Image {
        precondition(stageSymbols.count == groups.count)
        for (symbols, g) in zip(stageSymbols, groups) { precondition(symbols.count == g * h * w) }
        var pixels = [UInt8](repeating: 0, count: width * height * colorType.channels)
        for core in blocks(height: h, width: w, block: block) {
            let outer = expand(core, by: halo, height: h, width: w)
            let crops = zip(stageSymbols, groups).map { symbols, g in
                Tiles.extract(symbols, groups: g, latentWidth: w, latentHeight: h, rect: outer)
            }
            let reconstruction = ForwardCaches.$kept.withValue(false) { synthesise(crops, outer) }  // no backward follows
            let rows = (core.top * stride)..<min((core.top + core.height) * stride, height)
            let columns = (core.left * stride)..<min((core.left + core.width) * stride, width)
            Pixels.write(reconstruction, originTop: outer.top * stride, originLeft: outer.left * stride,
                         rows: rows, columns: columns, into: &pixels, imageWidth: width, colorType: colorType)
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
