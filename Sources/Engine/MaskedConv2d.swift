import SeededRandom
/// Which inputs a PixelCNN layer may see at the position it computes (van den Oord et al. 2016,
/// "Pixel Recurrent Neural Networks", §3.4): `.a` excludes the current position's own group and
/// every later group (the first layer, which looks at the symbols themselves); `.b` includes the
/// current group (every later layer, whose inputs at group g already exclude symbol g).
public enum PixelCNNMask: Sendable, Equatable {
    case a
    case b

    /// Whether output group `outputGroup` may read input group `inputGroup` at the same position.
    func allows(outputGroup: Int, inputGroup: Int) -> Bool {
        switch self {
        case .a: return inputGroup < outputGroup
        case .b: return inputGroup <= outputGroup
        }
    }
}

/// The group of `channel` when `channels` channels are split into `groups` equal contiguous
/// blocks: channels `g · C/G ..< (g + 1) · C/G` form group `g`.
@inline(__always)
func channelGroup(_ channel: Int, channels: Int, groups: Int) -> Int {
    channel / (channels / groups)
}

/// A PixelCNN masked convolution (k × k, stride 1, padding k/2, k odd) over NCHW tensors whose
/// channels are split into `groups` ordered groups (the way PixelCNN orders R, G, B; here the G
/// codebook groups of the vector quantizer).
///
/// Causality, for output position (r, c) and output channel group g. Positions are ordered in
/// raster order (row by row, left to right); input channel group of input channel i is
/// `i / (inputChannels / groups)`, output group of output channel o is `o / (outputChannels / groups)`.
/// The output may read input position (r', c') in channel group g' if and only if
/// - r' < r (any row above inside the window), or
/// - r' == r and c' < c (left of the centre in the same row), or
/// - (r', c') == (r, c) and g' < g (mask `.a`) or g' ≤ g (mask `.b`).
/// Everything else (the centre's later groups, the rest of the centre row, all rows below) has
/// weight 0: the forward pass multiplies the weights by this fixed mask, and the gradient of every
/// masked weight is exactly 0. With `groups == 1` this is the classic mask A / mask B.
///
/// A stack of these convolutions has the well-known blind spot (positions up and to the right
/// that never reach the output); `GatedPixelCNNBlock` has none.
/// Parameters: `<name>.weight` `[out, in, k, k]`, `<name>.bias` `[out]`.
public final class MaskedConv2d: Layer {
    public let convolution: Conv2d
    public let mask: PixelCNNMask
    public let groups: Int

    @_specialize(exported: true, where G == SplitMix64)
    public init<G: RandomNumberGenerator>(
        name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int,
        mask: PixelCNNMask, groups: Int = 1, bias: Bool = true, using generator: inout G
    ) {
        precondition(kernelSize % 2 == 1, "a masked convolution needs an odd kernel, found \(kernelSize)")
        precondition(groups >= 1 && inputChannels % groups == 0 && outputChannels % groups == 0,
                     "channels \(inputChannels)→\(outputChannels) do not split into \(groups) groups")
        let centre = kernelSize / 2
        var weights = [Float](repeating: 0, count: outputChannels * inputChannels * kernelSize * kernelSize)
        for o in 0..<outputChannels {
            let og = channelGroup(o, channels: outputChannels, groups: groups)
            for i in 0..<inputChannels {
                let ig = channelGroup(i, channels: inputChannels, groups: groups)
                for ky in 0..<kernelSize {
                    for kx in 0..<kernelSize {
                        let visible = ky < centre || (ky == centre && kx < centre)
                            || (ky == centre && kx == centre && mask.allows(outputGroup: og, inputGroup: ig))
                        weights[((o * inputChannels + i) * kernelSize + ky) * kernelSize + kx] = visible ? 1 : 0
                    }
                }
            }
        }
        self.mask = mask
        self.groups = groups
        convolution = Conv2d(name: name, inputChannels: inputChannels, outputChannels: outputChannels,
                             geometry: .square(kernel: kernelSize, stride: 1, padding: centre),
                             bias: bias, mask: weights, using: &generator)
    }

    public var parameters: [Parameter] { convolution.parameters }
    public func forward(_ input: Tensor) -> Tensor { convolution.forward(input) }
    public func backward(_ gradOutput: Tensor) -> Tensor { convolution.backward(gradOutput) }
}
