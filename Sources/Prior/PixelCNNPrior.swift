import Engine
import IntegerPrior
import SeededRandom

/// The float PixelCNN prior: what phase II trains. The codec never codes with it; it codes with
/// the `IntegerPrior` that `freeze()` derives from it (docs/design.md §3).
///
/// ```
/// symbols [N, G, h, w] ─▶ embedding (per group, E dims) ─▶ [N, G·E, h, w]
///   ─▶ gated block .a ─▶ (blocks − 1) × gated block .b ─▶ horizontal stack [N, C, h, w]
///   ─▶ ReLU ─▶ 1×1 conv (.b group mask) ─▶ [N, headChannels, h, w] ─▶ ReLU
///   ─▶ 1×1 conv (.b group mask) ─▶ logits [N, G·K, h, w]
/// ```
/// Group g's logits (channels g·K ..< (g+1)·K at (r, c)) depend only on symbols at positions
/// before (r, c) in raster order and on groups < g at (r, c): the autoregressive order the coder
/// uses. Outside the map is zero padding (a tile's edges in the codec, a crop's in training).
///
/// Parameters (safetensors keys): `prior.embedding.weight` `[G, K, E]`, `prior.block<b>.{vertical,
/// horizontal,link,output}.*` (see `GatedPixelCNNBlock`), `prior.head.hidden.{weight,bias}`,
/// `prior.head.logits.{weight,bias}`.
///
/// Not thread-safe: its layers cache activations between forward and backward passes.
public final class PixelCNNPrior {
    public let configuration: PriorConfiguration
    /// The prefix of every parameter name: `prior.`, or `prior.stage<k>.` inside a stage prior.
    let namePrefix: String
    let embedding: Embedding
    let blocks: [GatedPixelCNNBlock]
    let hidden: MaskedConv2d
    let output: MaskedConv2d
    /// Everything after the embedding.
    private let network: Sequential

    /// Key prefix of the float prior's tensors in a model file.
    public static let tensorPrefix = "prior."
    /// Metadata key holding the JSON `PriorConfiguration`.
    public static let configurationKey = "prior.config"

    /// A randomly initialised prior (PyTorch's default initialisation), reproducible from `seed`.
    /// The configuration must be valid (`validate()`).
    public convenience init(configuration: PriorConfiguration, seed: UInt64) {
        self.init(configuration: configuration, seed: seed, namePrefix: Self.tensorPrefix)
    }

    /// A randomly initialised prior whose parameter names start with `namePrefix` instead of `prior.`.
    init(configuration: PriorConfiguration, seed: UInt64, namePrefix: String) {
        do { try configuration.validate() } catch { preconditionFailure(error.description) }
        self.configuration = configuration
        self.namePrefix = namePrefix
        var random = SplitMix64(seed: seed)
        let (g, c) = (configuration.groups, configuration.channels)
        embedding = Embedding(name: namePrefix + "embedding", groups: g, symbolCount: configuration.codebookSize,
                              dimension: configuration.embeddingDimension, using: &random)
        var blocks: [GatedPixelCNNBlock] = []
        for b in 0..<configuration.blocks {
            blocks.append(GatedPixelCNNBlock(
                name: namePrefix + "block\(b)", inputChannels: b == 0 ? g * configuration.embeddingDimension : 2 * c,
                channels: c, kernelSize: configuration.kernelSize, mask: b == 0 ? .a : .b, groups: g,
                using: &random))
        }
        self.blocks = blocks
        hidden = MaskedConv2d(name: namePrefix + "head.hidden", inputChannels: c, outputChannels: configuration.headChannels,
                              kernelSize: 1, mask: .b, groups: g, using: &random)
        output = MaskedConv2d(name: namePrefix + "head.logits", inputChannels: configuration.headChannels,
                              outputChannels: g * configuration.codebookSize, kernelSize: 1, mask: .b, groups: g,
                              using: &random)
        network = Sequential(blocks + [ChannelSlice(channels: c..<2 * c), ReLU(), hidden, ReLU(), output])
    }

    /// Every trainable tensor, embedding first, with stable names.
    public var parameters: [Parameter] { embedding.parameters + network.parameters }

    /// Logits `[N, G·K, height, width]` for symbols `[N, G, height, width]` (each in 0..<K).
    /// Caches what `backward` needs, like every layer's forward.
    public func logits(symbols: [Int32], batch: Int, height: Int, width: Int) -> Tensor {
        let shape = [batch, configuration.groups, height, width]
        precondition(batch > 0 && height > 0 && width > 0, "symbol maps must not be empty, found \(shape)")
        precondition(symbols.count == shape.reduce(1, *), "\(symbols.count) symbols do not fill \(shape)")
        return network.forward(embedding.forward(symbols: symbols.map { Int($0) }, shape: shape))
    }

    /// One training forward and backward pass on symbol maps `[N, G, height, width]`: adds the
    /// gradient of the mean cross-entropy (in nats per symbol) into every parameter's gradient.
    /// - Returns: the mean cross-entropy in bits per symbol, the rate an ideal coder would reach.
    @discardableResult
    public func trainStep(symbols: [Int32], batch: Int, height: Int, width: Int) -> Float {
        let z = logits(symbols: symbols, batch: batch, height: height, width: width)
        let result = SoftmaxCrossEntropy.evaluate(logits: z, targets: symbols.map { Int($0) },
                                                  groups: configuration.groups)
        embedding.backward(network.backward(result.gradient))
        return result.bits
    }

    /// Total −log2 p of the symbols under the float model, in bits (evaluation; no gradients).
    public func crossEntropyBits(symbols: [Int32], batch: Int, height: Int, width: Int) -> Double {
        let z = logits(symbols: symbols, batch: batch, height: height, width: width)
        let result = SoftmaxCrossEntropy.evaluate(logits: z, targets: symbols.map { Int($0) },
                                                  groups: configuration.groups)
        return Double(result.bits) * Double(symbols.count)
    }

    /// The integer prior the codec codes with, derived deterministically from these weights.
    /// See `Formats/prior.md` and `IntegerPrior`. `weightBits`: 16 (I16 weights, the default) or 8.
    public func freeze(weightBits: Int = 16) -> IntegerPrior {
        PriorFreezer(prior: self, weightBits: weightBits).freeze()
    }
}
