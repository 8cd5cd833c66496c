import Engine
import SeededRandom
/// The analysis and synthesis transforms of the VQ-VAE, built from Engine layers so the
/// benchmark, the tests and the codec share one definition. Parameter names follow a flat
/// PyTorch `nn.Sequential` (`analysis.0.weight`, `analysis.1.gamma`, …), every layer counted,
/// so `Tools/bench_torch.py` and a PyTorch training script produce the same keys.
public enum TransformNetworks {
    /// Image `[N, inputChannels, H, W]` → latent `[N, latentChannels, H/stride, W/stride]`,
    /// `stride = 2^d`, `d ≥ 1`: d × [Conv(5×5, stride 2, pad 2) GDN], then Conv(3×3, pad 1).
    /// With stride 8: Conv(3→N) GDN Conv(N→N) GDN Conv(N→N) GDN Conv(N→D).
    /// `H` and `W` must be multiples of `stride`.
    @_specialize(exported: true, where G == SplitMix64)
    public static func makeAnalysis<G: RandomNumberGenerator>(
        stride: Int = 8, width: Int = 128, latentChannels: Int = 64, inputChannels: Int = 3,
        name: String = "analysis", using generator: inout G
    ) -> Sequential {
        let downsamplings = log2(stride)
        var layers: [any Layer] = []
        var channels = inputChannels
        for _ in 0..<downsamplings {
            layers.append(Conv2d(name: "\(name).\(layers.count)", inputChannels: channels, outputChannels: width,
                                 kernelSize: 5, stride: 2, padding: 2, using: &generator))
            layers.append(GDN(name: "\(name).\(layers.count)", channels: width))
            channels = width
        }
        layers.append(Conv2d(name: "\(name).\(layers.count)", inputChannels: width, outputChannels: latentChannels,
                             kernelSize: 3, padding: 1, using: &generator))
        return Sequential(layers)
    }

    /// Latent `[N, latentChannels, h, w]` → image `[N, outputChannels, h·stride, w·stride]`:
    /// Conv(3×3, D→N) IGDN, then (d − 1) × [Conv(3×3, N→4N) PixelShuffle(2) IGDN], then
    /// Conv(3×3, N→4·outputChannels) PixelShuffle(2): sub-pixel upsampling, no transposed convolutions.
    @_specialize(exported: true, where G == SplitMix64)
    public static func makeSynthesis<G: RandomNumberGenerator>(
        stride: Int = 8, width: Int = 128, latentChannels: Int = 64, outputChannels: Int = 3,
        name: String = "synthesis", using generator: inout G
    ) -> Sequential {
        let upsamplings = log2(stride)
        var layers: [any Layer] = []
        layers.append(Conv2d(name: "\(name).\(layers.count)", inputChannels: latentChannels, outputChannels: width,
                             kernelSize: 3, padding: 1, using: &generator))
        layers.append(GDN(name: "\(name).\(layers.count)", channels: width, inverse: true))
        for _ in 1..<upsamplings {
            layers.append(Conv2d(name: "\(name).\(layers.count)", inputChannels: width, outputChannels: 4 * width,
                                 kernelSize: 3, padding: 1, using: &generator))
            layers.append(PixelShuffle(factor: 2))
            layers.append(GDN(name: "\(name).\(layers.count)", channels: width, inverse: true))
        }
        layers.append(Conv2d(name: "\(name).\(layers.count)", inputChannels: width, outputChannels: 4 * outputChannels,
                             kernelSize: 3, padding: 1, using: &generator))
        layers.append(PixelShuffle(factor: 2))
        return Sequential(layers)
    }

    private static func log2(_ stride: Int) -> Int {
        precondition(stride >= 2 && stride & (stride - 1) == 0, "stride must be a power of two ≥ 2, found \(stride)")
        return stride.trailingZeroBitCount
    }
}
