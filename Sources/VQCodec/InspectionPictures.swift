import Foundation
import Images

/// Pictures of what the codec does: the bit heatmap, the symbol map and the codebook mosaic.
/// Every picture is an 8-bit RGB ``Image``; the caller writes it (``PNG/write(_:to:refusingToOverwrite:)``).
public enum InspectionPictures {
    /// Matplotlib's viridis (perceptually uniform, readable in grey and by most colour-blind
    /// viewers), sampled at 17 evenly spaced points; values between are interpolated linearly.
    static let viridis: [(Double, Double, Double)] = [
        (68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139), (51, 99, 141), (44, 114, 142),
        (38, 130, 142), (33, 145, 140), (31, 160, 136), (40, 174, 128), (63, 188, 115), (94, 201, 98),
        (132, 212, 75), (173, 220, 48), (216, 226, 25), (253, 231, 37),
    ]

    /// Viridis at `t` in 0…1 (clamped), as 8-bit RGB.
    public static func colour(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let x = (t.isNaN ? 0 : min(max(t, 0), 1)) * Double(viridis.count - 1)
        let i = min(Int(x), viridis.count - 2)
        let f = x - Double(i)
        let (a, b) = (viridis[i], viridis[i + 1])
        func mix(_ u: Double, _ v: Double) -> UInt8 { UInt8((u + (v - u) * f).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// A colour for code index `k` that depends on `k` alone, so the same code has the same
    /// colour in every picture: hues spaced by the golden angle, with three lightness steps so
    /// that neighbouring hues still differ.
    public static func codeColour(_ k: Int) -> (UInt8, UInt8, UInt8) {
        let hue = (Double(k) * 0.618_033_988_749_895).truncatingRemainder(dividingBy: 1)
        let value = [0.95, 0.75, 0.55][k % 3]
        let saturation = [0.55, 0.85, 0.70][(k / 3) % 3]
        return hsv(hue, saturation, value)
    }

    static func hsv(_ h: Double, _ s: Double, _ v: Double) -> (UInt8, UInt8, UInt8) {
        let sector = h * 6
        let i = Int(sector) % 6
        let f = sector - Double(Int(sector))
        let (p, q, t) = (v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f)))
        let rgb: (Double, Double, Double)
        switch i {
        case 0: rgb = (v, t, p)
        case 1: rgb = (q, v, p)
        case 2: rgb = (p, v, t)
        case 3: rgb = (p, q, v)
        case 4: rgb = (t, p, v)
        default: rgb = (v, p, q)
        }
        func byte(_ u: Double) -> UInt8 { UInt8((u * 255).rounded()) }
        return (byte(rgb.0), byte(rgb.1), byte(rgb.2))
    }

    /// The bit heatmap: each latent position's cost in bits per pixel (its bits over `stride²`)
    /// coloured with viridis from 0 (dark violet) to `maximum` (yellow; costlier positions are
    /// clipped to it), blended with weight `opacity` over the luminance of `image`, at the
    /// image's full resolution (each position covers its `stride × stride` pixels).
    /// - positionBitsPerPixel: `[h, w]`, row-major, covering the image (`h · stride ≥ height`).
    public static func heatmap(image: Image, positionBitsPerPixel: [Double], latentWidth w: Int, stride: Int,
                               maximum: Double, opacity: Double = 0.65) -> Image {
        precondition(maximum > 0 && w > 0 && stride > 0)
        let colours = positionBitsPerPixel.map { colour($0 / maximum) }
        var pixels = [UInt8](repeating: 0, count: image.width * image.height * 3)
        let channels = image.channels
        for y in 0..<image.height {
            for x in 0..<image.width {
                let source = (y * image.width + x) * channels
                let luma: Double = channels == 1 ? Double(image.pixels[source])
                    : 0.299 * Double(image.pixels[source]) + 0.587 * Double(image.pixels[source + 1])
                        + 0.114 * Double(image.pixels[source + 2])
                let c = colours[(y / stride) * w + x / stride]
                let target = (y * image.width + x) * 3
                pixels[target] = blend(c.0, luma, opacity)
                pixels[target + 1] = blend(c.1, luma, opacity)
                pixels[target + 2] = blend(c.2, luma, opacity)
            }
        }
        return Image(width: image.width, height: image.height, colorType: .rgb, pixels: pixels)
    }

    static func blend(_ colour: UInt8, _ luma: Double, _ opacity: Double) -> UInt8 {
        UInt8(min(255, max(0, (opacity * Double(colour) + (1 - opacity) * luma).rounded())))
    }

    /// The symbolic image: one panel per group (`[G, h, w]` symbols), each code drawn in its
    /// ``codeColour(_:)`` as a square of `scale × scale` pixels, panels in rows of `columns`
    /// separated by `gap` white pixels.
    public static func symbolMap(symbols: [Int32], groups: Int, latentHeight h: Int, latentWidth w: Int,
                                 scale: Int, columns: Int, gap: Int = 4) -> Image {
        precondition(groups > 0 && h > 0 && w > 0 && scale > 0 && columns > 0 && symbols.count == groups * h * w)
        let rows = (groups + columns - 1) / columns
        let cols = min(columns, groups)
        let width = cols * w * scale + (cols - 1) * gap, height = rows * h * scale + (rows - 1) * gap
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for g in 0..<groups {
            let (left, top) = ((g % columns) * (w * scale + gap), (g / columns) * (h * scale + gap))
            for y in 0..<(h * scale) {
                for x in 0..<(w * scale) {
                    let c = codeColour(Int(symbols[(g * h + y / scale) * w + x / scale]))
                    let target = ((top + y) * width + left + x) * 3
                    pixels[target] = c.0; pixels[target + 1] = c.1; pixels[target + 2] = c.2
                }
            }
        }
        return Image(width: width, height: height, colorType: .rgb, pixels: pixels)
    }

    /// Equal-sized RGB tiles laid out in rows of `columns`, `gap` white pixels between tiles;
    /// each list of `sections` starts a new row, with `sectionGap` white pixels before it.
    public static func mosaic(sections: [[Image]], columns: Int, gap: Int = 2, sectionGap: Int = 12) -> Image {
        let all = sections.flatMap { $0 }
        precondition(columns > 0 && !all.isEmpty)
        let side = all[0].width
        precondition(all.allSatisfy { $0.width == side && $0.height == side && $0.colorType == .rgb })
        let width = columns * side + (columns - 1) * gap
        var height = 0
        var tops: [[Int]] = []
        for (s, section) in sections.enumerated() {
            if s > 0 { height += sectionGap }
            let rows = max(1, (section.count + columns - 1) / columns)
            tops.append((0..<rows).map { height + $0 * (side + gap) })
            height += rows * side + (rows - 1) * gap
        }
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for (s, section) in sections.enumerated() {
            for (i, tile) in section.enumerated() {
                let (left, top) = ((i % columns) * (side + gap), tops[s][i / columns])
                for y in 0..<side {
                    let target = ((top + y) * width + left) * 3
                    pixels.replaceSubrange(target..<(target + side * 3), with: tile.pixels[(y * side * 3)..<((y + 1) * side * 3)])
                }
            }
        }
        return Image(width: width, height: height, colorType: .rgb, pixels: pixels)
    }

    /// PSNR in dB between two images of the same size and layout (`.infinity` when identical).
    public static func psnr(_ a: Image, _ b: Image) -> Double {
        precondition(a.width == b.width && a.height == b.height && a.colorType == b.colorType)
        var sum = 0.0
        for i in a.pixels.indices {
            let d = Double(a.pixels[i]) - Double(b.pixels[i])
            sum += d * d
        }
        let mse = sum / Double(a.pixels.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }
}

/// Pairs of codes whose decoded tiles are nearly the same picture.
public enum NearDuplicates {
    /// A pair of codes (`first < second`, indices into the tiles given) and the PSNR between their tiles.
    public struct Pair: Sendable, Equatable {
        public var first: Int
        public var second: Int
        public var psnr: Double

        public init(first: Int, second: Int, psnr: Double) {
            self.first = first
            self.second = second
            self.psnr = psnr
        }
    }

    /// Every pair of `tiles` (equal-length sample arrays in grey levels, 0–255 scale) whose PSNR
    /// (peak 255) is at least `minimumPSNR` dB, most similar first. Cost: one pass over both
    /// tiles per pair, cut short once the pair's squared error exceeds the threshold's.
    public static func pairs(tiles: [[Float]], minimumPSNR: Double) -> [Pair] {
        guard let first = tiles.first else { return [] }
        precondition(tiles.allSatisfy { $0.count == first.count })
        let count = first.count
        // PSNR ≥ t  ⇔  Σ d² ≤ count · 255² / 10^(t/10).
        let limit = Double(count) * 255 * 255 / pow(10, minimumPSNR / 10)
        var found: [Pair] = []
        for a in 0..<tiles.count {
            tiles[a].withUnsafeBufferPointer { pa in
                for b in (a + 1)..<max(a + 1, tiles.count) {
                    let sum: Double = tiles[b].withUnsafeBufferPointer { pb in
                        var s = 0.0
                        var i = 0
                        while i < count {
                            let end = min(count, i + 256)
                            var partial: Float = 0
                            while i < end {
                                let d = pa[i] - pb[i]
                                partial += d * d
                                i += 1
                            }
                            s += Double(partial)
                            if s > limit { return s }
                        }
                        return s
                    }
                    if sum <= limit {
                        found.append(Pair(first: a, second: b, psnr: psnr(squaredError: sum, count: count)))
                    }
                }
            }
        }
        return found.sorted { $0.psnr != $1.psnr ? $0.psnr > $1.psnr : ($0.first, $0.second) < ($1.first, $1.second) }
    }

    /// PSNR in dB (peak 255) of a total squared error over `count` samples (`.infinity` for 0).
    public static func psnr(squaredError: Double, count: Int) -> Double {
        squaredError == 0 ? .infinity : 10 * log10(255 * 255 * Double(count) / squaredError)
    }

    /// PSNR in dB between two equal-length sample arrays on the 0–255 scale (unclamped).
    public static func psnr(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var sum = 0.0
        for i in a.indices { let d = Double(a[i]) - Double(b[i]); sum += d * d }
        return psnr(squaredError: sum, count: a.count)
    }
}
