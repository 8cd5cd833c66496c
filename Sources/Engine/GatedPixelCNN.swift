import SeededRandom
/// One layer of gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
/// PixelCNN Decoders", fig. 2), with a vertical and a horizontal stack and no blind spot, over
/// symbols whose channels are split into `groups` ordered groups.
///
/// Tensors: a block's output is `[N, 2C, H, W]`, the vertical stack in channels `0..<C` and the
/// horizontal stack in `C..<2C`. A `.b` block takes the previous block's output; the first block
/// (`.a`) takes the embedded symbols `[N, inputChannels, H, W]` and feeds them to both stacks.
/// Within the horizontal stack, channel group g is channels `C + g·C/G ..< C + (g+1)·C/G`.
///
/// Per block, with h = kernelSize / 2 and gate(p) = tanh(p[0..<C]) ⊙ sigmoid(p[C..<2C]):
/// - vertical:   `pv = vconv(vIn)`, `vOut = gate(pv)`. vconv is a (h or h+1) × k convolution
///   aligned so that output row r reads rows r−h … r−1 (`.a`) or r−h … r (`.b`), columns c−h … c+h.
/// - link:       `pv` enters the horizontal stack through a 1×1 convolution (no shift is needed
///   because the vertical stack already sees only rows strictly above, see below).
/// - horizontal: `ph = hconv(hIn) + link(pv)`, `hOut = out(gate(ph))` (`.a`) or
///   `hIn + out(gate(ph))` (`.b`, residual). hconv is 1 × (h+1) and reads columns c−h … c of row r;
///   at column c (the centre) output group g reads input groups < g (`.a`) or ≤ g (`.b`).
///   `out` is a 1×1 convolution with the `.b` group mask. The first block has no residual
///   connection: adding its input would let group g see its own symbol.
///
/// Causality (proved by induction over blocks and checked by the tests): after any number of
/// blocks, the vertical stack at (r, c) depends only on inputs in rows < r; the horizontal stack
/// at (r, c), group g, depends only on inputs at positions before (r, c) in raster order, plus the
/// groups < g of position (r, c) itself. The receptive field after L blocks is exactly rows
/// r − L·h … r − 1 × columns c − L·h … c + L·h, plus row r columns c − L·h … c − 1 — no blind spot.
/// The gate pairs channels i and C + i, so pre-activation channel j belongs to group of `j mod C`.
///
/// Parameters: `<name>.vertical.{weight,bias}`, `<name>.horizontal.{weight,bias}`,
/// `<name>.link.weight`, `<name>.output.{weight,bias}`.
public final class GatedPixelCNNBlock: Layer {
    public let mask: PixelCNNMask
    public let channels: Int
    public let groups: Int
    let vertical: Conv2d
    let horizontal: Conv2d
    let link: Conv2d
    let output: Conv2d
    private let verticalGate = GatedActivation()
    private let horizontalGate = GatedActivation()

    /// - inputChannels: for `.a`, the embedded symbols' channels (a multiple of `groups`);
    ///   for `.b`, must be `2 · channels`.
    /// - channels: C, the width of each stack (a multiple of `groups`).
    /// - kernelSize: k, odd and ≥ 3.
    @_specialize(exported: true, where G == SplitMix64)
    public init<G: RandomNumberGenerator>(
        name: String, inputChannels: Int, channels: Int, kernelSize: Int = 3,
        mask: PixelCNNMask, groups: Int, using generator: inout G
    ) {
        precondition(kernelSize % 2 == 1 && kernelSize >= 3, "kernel size must be odd and ≥ 3, found \(kernelSize)")
        precondition(channels % groups == 0, "\(channels) channels do not split into \(groups) groups")
        let stackInput: Int
        switch mask {
        case .a:
            precondition(inputChannels % groups == 0, "\(inputChannels) input channels do not split into \(groups) groups")
            stackInput = inputChannels
        case .b:
            precondition(inputChannels == 2 * channels, "a .b block takes a block's output: \(2 * channels) channels, not \(inputChannels)")
            stackInput = channels
        }
        self.mask = mask
        self.channels = channels
        self.groups = groups
        let h = kernelSize / 2
        let verticalRows = mask == .a ? h : h + 1
        vertical = Conv2d(
            name: name + ".vertical", inputChannels: stackInput, outputChannels: 2 * channels,
            geometry: ConvolutionGeometry(kernelHeight: verticalRows, kernelWidth: kernelSize, stride: 1,
                                          padTop: h, padLeft: h, padBottom: verticalRows - h - 1, padRight: h),
            bias: true, mask: nil, using: &generator)
        var horizontalMask = [Float](repeating: 1, count: 2 * channels * stackInput * (h + 1))
        for o in 0..<2 * channels {
            let og = channelGroup(o % channels, channels: channels, groups: groups)
            for i in 0..<stackInput {
                let ig = channelGroup(i, channels: stackInput, groups: groups)
                horizontalMask[(o * stackInput + i) * (h + 1) + h] = mask.allows(outputGroup: og, inputGroup: ig) ? 1 : 0
            }
        }
        horizontal = Conv2d(
            name: name + ".horizontal", inputChannels: stackInput, outputChannels: 2 * channels,
            geometry: ConvolutionGeometry(kernelHeight: 1, kernelWidth: h + 1, stride: 1,
                                          padTop: 0, padLeft: h, padBottom: 0, padRight: 0),
            bias: true, mask: horizontalMask, using: &generator)
        link = Conv2d(name: name + ".link", inputChannels: 2 * channels, outputChannels: 2 * channels,
                      geometry: .square(kernel: 1, stride: 1, padding: 0), bias: false, mask: nil, using: &generator)
        var outputMask = [Float](repeating: 0, count: channels * channels)
        for o in 0..<channels {
            for i in 0..<channels where PixelCNNMask.b.allows(
                outputGroup: channelGroup(o, channels: channels, groups: groups),
                inputGroup: channelGroup(i, channels: channels, groups: groups)) {
                outputMask[o * channels + i] = 1
            }
        }
        output = Conv2d(name: name + ".output", inputChannels: channels, outputChannels: channels,
                        geometry: .square(kernel: 1, stride: 1, padding: 0), bias: true, mask: outputMask,
                        using: &generator)
    }

    public var parameters: [Parameter] {
        vertical.parameters + horizontal.parameters + link.parameters + output.parameters
    }

    public func forward(_ input: Tensor) -> Tensor {
        let verticalIn: Tensor, horizontalIn: Tensor
        switch mask {
        case .a: (verticalIn, horizontalIn) = (input, input)
        case .b: (verticalIn, horizontalIn) = (input.channels(0..<channels), input.channels(channels..<2 * channels))
        }
        let pv = vertical.forward(verticalIn)
        let verticalOut = verticalGate.forward(pv)
        let ph = horizontal.forward(horizontalIn) + link.forward(pv)
        var horizontalOut = output.forward(horizontalGate.forward(ph))
        if mask == .b { horizontalOut = horizontalIn + horizontalOut }
        return Tensor.concatenatingChannels([verticalOut, horizontalOut])
    }

    /// The forward pass of a conditioned block (the stage-conditional prior): `verticalCondition`
    /// and `horizontalCondition`, `[N, 2C, H, W]`, are added to the vertical pre-activation (before its gate and
    /// before the link reads it) and to the horizontal pre-activation (after the link is added).
    /// Evaluation only: the layers cache what `backward` needs, but no gradient reaches the terms.
    public func forward(_ input: Tensor, verticalCondition: Tensor, horizontalCondition: Tensor) -> Tensor {
        let verticalIn: Tensor, horizontalIn: Tensor
        switch mask {
        case .a: (verticalIn, horizontalIn) = (input, input)
        case .b: (verticalIn, horizontalIn) = (input.channels(0..<channels), input.channels(channels..<2 * channels))
        }
        let pv = vertical.forward(verticalIn) + verticalCondition
        let verticalOut = verticalGate.forward(pv)
        let ph = horizontal.forward(horizontalIn) + link.forward(pv) + horizontalCondition
        var horizontalOut = output.forward(horizontalGate.forward(ph))
        if mask == .b { horizontalOut = horizontalIn + horizontalOut }
        return Tensor.concatenatingChannels([verticalOut, horizontalOut])
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let dVerticalOut = gradOutput.channels(0..<channels)
        let dHorizontalOut = gradOutput.channels(channels..<2 * channels)
        let dph = horizontalGate.backward(output.backward(dHorizontalOut))
        var dHorizontalIn = horizontal.backward(dph)
        if mask == .b { dHorizontalIn = dHorizontalIn + dHorizontalOut }
        let dpv = link.backward(dph) + verticalGate.backward(dVerticalOut)
        let dVerticalIn = vertical.backward(dpv)
        switch mask {
        case .a: return dVerticalIn + dHorizontalIn
        case .b: return Tensor.concatenatingChannels([dVerticalIn, dHorizontalIn])
        }
    }
}
