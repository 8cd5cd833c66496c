/// Rearranges channels into space (Shi et al. 2016, "sub-pixel convolution"), PyTorch's
/// `nn.PixelShuffle(r)` ordering exactly:
/// `output[n, c, h·r + i, w·r + j] = input[n, c·r² + i·r + j, h, w]`.
///
/// Input `[N, C·r², H, W]`, output `[N, C, H·r, W·r]`. A convolution to `C·r²` channels followed
/// by this layer is the decoder's learned ×r upsampling. Backward is the inverse permutation.
public final class PixelShuffle: Layer {
    public let factor: Int
    private var inputShape: [Int] = []

    public init(factor: Int) {
        precondition(factor >= 1, "PixelShuffle factor must be positive")
        self.factor = factor
    }

    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        let (n, c, h, w) = input.nchw
        let r = factor
        precondition(c % (r * r) == 0, "PixelShuffle(\(r)) needs channels divisible by \(r * r), found \(c)")
        inputShape = input.shape
        let outC = c / (r * r)
        return input.data.withUnsafeBufferPointer { x in
            Tensor(shape: [n, outC, h * r, w * r]) { y in
                permute(n: n, outC: outC, h: h, w: w, spread: x.baseAddress!, into: y.baseAddress!)
            }
        }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let r = factor
        precondition(gradOutput.shape == [n, c / (r * r), h * r, w * r], "gradient shape \(gradOutput.shape) does not match output")
        return gradOutput.data.withUnsafeBufferPointer { dy in
            Tensor(shape: inputShape) { dx in
                permute(n: n, outC: c / (r * r), h: h, w: w, gather: dy.baseAddress!, into: dx.baseAddress!)
            }
        }
    }

    /// Forward: `output[n, c, h·r + i, w·r + j] = input[n, c·r² + i·r + j, h, w]`; images split
    /// over the cores, or for one image its output channels. A pure copy: any split gives the
    /// same tensor.
    private func permute(n: Int, outC: Int, h: Int, w: Int, spread x: UnsafePointer<Float>,
                         into y: UnsafeMutablePointer<Float>) {
        let (r, plane) = (factor, h * w)
        forEachChannel(n: n, outC: outC) { b, c in
            let base = (b * outC + c) * r * r * plane
            var out = y + base
            for hh in 0..<h {
                for i in 0..<r {
                    let row = x + base + i * r * plane + hh * w
                    if r == 2 {
                        // The decoder's factor: interleave two input rows, a loop the compiler vectorises.
                        let (first, second) = (row, row + plane)
                        for ww in 0..<w {
                            out[2 * ww] = first[ww]
                            out[2 * ww + 1] = second[ww]
                        }
                    } else {
                        for ww in 0..<w {
                            for j in 0..<r { out[ww * r + j] = row[j * plane + ww] }
                        }
                    }
                    out += w * r
                }
            }
        }
    }

    /// Backward: the inverse permutation, `dx[n, c·r² + i·r + j, h, w] = dy[n, c, h·r + i, w·r + j]`.
    private func permute(n: Int, outC: Int, h: Int, w: Int, gather dy: UnsafePointer<Float>,
                         into dx: UnsafeMutablePointer<Float>) {
        let (r, plane) = (factor, h * w)
        forEachChannel(n: n, outC: outC) { b, c in
            let base = (b * outC + c) * r * r * plane
            var out = dy + base
            for hh in 0..<h {
                for i in 0..<r {
                    let row = dx + base + i * r * plane + hh * w
                    for ww in 0..<w {
                        for j in 0..<r { row[j * plane + ww] = out[ww * r + j] }
                    }
                    out += w * r
                }
            }
        }
    }

    /// `body(image, outputChannel)` for every pair: images split over the cores, or the channels
    /// of a batch of one.
    private func forEachChannel(n: Int, outC: Int, _ body: (Int, Int) -> Void) {
        Parallelism.forEachImageChunk(images: n, chunks: outC) { _, b, c in body(b, c) }
    }
}
