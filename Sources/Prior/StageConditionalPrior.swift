import Engine
import IntegerPrior
import SeededRandom

/// The float prior of one stage k of a progressive model (PyTorch's `StageConditionalPrior`,
/// `Tools/train_torch/model.py`): a gated PixelCNN over the stage's symbols `[N, G_k, h, w]` that
/// also reads the decoded latent of stages 1…k−1, c = Σ_{j<k} codebook_j[z_j] `[N, D, h, w]`.
///
/// ```
/// symbols ─▶ embedding ─▶ block 0 ─▶ … ─▶ block B−1 ─▶ head ─▶ logits [N, G_k·K_k, h, w]
///                           ▲  ▲
/// c ─▶ condition<b>.vertical (3×3, pad 1) ─▶ + vertical pre-activation (before gate and link)
///   ─▶ condition<b>.horizontal (1×1)      ─▶ + horizontal pre-activation (after the link)
/// ```
/// c enters through unmasked convolutions (the decoder knows every earlier stage before it decodes
/// stage k), so group g's logits at (r, c) depend on stage k's symbols before (r, c) in raster
/// order, its groups < g at (r, c), and on c anywhere within the receptive field. With
/// `conditionChannels` = 0 it is exactly a `PixelCNNPrior`.
///
/// Parameters (model-file keys): the `PixelCNNPrior` names under `prior.stage<k>.` and, when
/// conditioned, `prior.stage<k>.condition<b>.vertical.{weight,bias}` `[2C, D, 3, 3]`, `[2C]` and
/// `prior.stage<k>.condition<b>.horizontal.{weight,bias}` `[2C, D, 1, 1]`, `[2C]`.
/// Evaluation only (training happens in PyTorch). Not thread-safe: its layers cache activations.
public final class StageConditionalPrior {
    public let configuration: StagePriorConfiguration
    /// k, from 1.
    public let stage: Int
    /// The PixelCNN part, its parameters named `prior.stage<k>.*`.
    let prior: PixelCNNPrior
    /// Per block; empty without a condition.
    let conditions: [(vertical: Conv2d, horizontal: Conv2d)]

    /// Key prefix of stage `k`'s float prior in a model file.
    public static func tensorPrefix(stage k: Int) -> String { "prior.stage\(k)." }

    /// A randomly initialised stage prior (PyTorch's default initialisation), reproducible from `seed`.
    public init(configuration: StagePriorConfiguration, stage: Int, seed: UInt64) {
        do { try configuration.validate() } catch { preconditionFailure(error.description) }
        precondition(stage >= 1, "stages are numbered from 1, found \(stage)")
        self.configuration = configuration
        self.stage = stage
        let prefix = Self.tensorPrefix(stage: stage)
        prior = PixelCNNPrior(configuration: configuration.prior, seed: seed, namePrefix: prefix)
        var random = SplitMix64(seed: seed ^ 0x9e37_79b9_7f4a_7c15)
        let (d, c2) = (configuration.conditionChannels, 2 * configuration.channels)
        conditions = d == 0 ? [] : (0..<configuration.blocks).map { b in
            (Conv2d(name: prefix + "condition\(b).vertical", inputChannels: d, outputChannels: c2, kernelSize: 3,
                    padding: 1, using: &random),
             Conv2d(name: prefix + "condition\(b).horizontal", inputChannels: d, outputChannels: c2, kernelSize: 1,
                    using: &random))
        }
    }

    /// Every tensor, the PixelCNN's first, then each block's condition convolutions.
    public var parameters: [Parameter] {
        prior.parameters + conditions.flatMap { $0.vertical.parameters + $0.horizontal.parameters }
    }

    /// Logits `[N, G·K, height, width]` for the stage's symbols `[N, G, height, width]` (each in
    /// 0..<K), given the earlier stages' decoded latent `condition` `[N, D, height, width]`
    /// (required when `conditionChannels` > 0, ignored otherwise).
    public func logits(symbols: [Int32], condition: Tensor?, batch: Int, height: Int, width: Int) -> Tensor {
        let c = configuration
        let shape = [batch, c.groups, height, width]
        precondition(batch > 0 && height > 0 && width > 0, "symbol maps must not be empty, found \(shape)")
        precondition(symbols.count == shape.reduce(1, *), "\(symbols.count) symbols do not fill \(shape)")
        var x = prior.embedding.forward(symbols: symbols.map { Int($0) }, shape: shape)
        if c.conditionChannels > 0 {
            guard let condition else { preconditionFailure("stage \(stage)'s prior reads the earlier stages' latent; none was given") }
            precondition(condition.shape == [batch, c.conditionChannels, height, width],
                         "condition \(condition.shape), expected \([batch, c.conditionChannels, height, width])")
            for (block, terms) in zip(prior.blocks, conditions) {
                x = block.forward(x, verticalCondition: terms.vertical.forward(condition),
                                  horizontalCondition: terms.horizontal.forward(condition))
            }
        } else {
            for block in prior.blocks { x = block.forward(x) }
        }
        let head = Sequential([ChannelSlice(channels: c.channels..<2 * c.channels), ReLU(), prior.hidden, ReLU(), prior.output])
        return head.forward(x)
    }

    /// Total −log2 p of the stage's symbols under the float model, in bits.
    public func crossEntropyBits(symbols: [Int32], condition: Tensor?, batch: Int, height: Int, width: Int) -> Double {
        let z = logits(symbols: symbols, condition: condition, batch: batch, height: height, width: width)
        let result = SoftmaxCrossEntropy.evaluate(logits: z, targets: symbols.map { Int($0) }, groups: configuration.groups)
        return Double(result.bits) * Double(symbols.count)
    }
}
