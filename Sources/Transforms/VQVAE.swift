#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine
import Quantizer
import SeededRandom

/// The VQ-VAE (van den Oord et al. 2017) with product codebooks:
///
/// ```
/// image s [N,3,H,W] ─▶ analysis ─▶ L [N,D,H/s,W/s] ─▶ nearest code per group ─▶ z [N,G,H/s,W/s]
///                                                          │ codebook lookup
/// reconstruction ŝ [N,3,H,W] ◀─ synthesis ◀─ L̂ [N,D,H/s,W/s] ◀┘
/// ```
///
/// Images are RGB floats, value = pixel / 255. Phase-I training minimises
/// `‖s − ŝ‖² + β‖L − sg(L̂)‖²` (mean squared errors), passing the decoder's gradient straight
/// through the quantiser; the codebooks are exponential moving averages of the vectors assigned
/// to them (``EMAQuantizer``: decay 0.99, β = 0.25, data-based initialisation, dead-code restarts).
///
/// Not thread-safe: layers cache activations between forward and backward passes.
public final class VQVAE {
    public let configuration: VQVAEConfiguration
    /// Model name stored in the file (metadata `name`): printable ASCII, at most 64 bytes.
    public var name: String
    let analysis: Sequential
    let synthesis: Sequential
    let quantizer: EMAQuantizer

    /// EMA decay of the codebooks.
    public static let codebookDecay: Float = 0.99
    /// β, the weight of the commitment term.
    public static let commitment: Float = 0.25
    /// EMA count below which a code is restarted on an encoder output. With K = 512 codes and
    /// 2,048 vectors per group in a batch, a code in use counts about 4; one unused for ~350 steps
    /// falls below 0.1.
    public static let deadCodeThreshold: Float = 0.1
    /// Training steps a code may go unchosen before it is restarted: with K = 512 and 2,048
    /// vectors per group in a batch, 20 steps are 40,960 vectors, so a code never chosen in them
    /// carries almost no probability, hence almost no information.
    public static let restartPatience = 20

    /// A new, untrained model: transforms initialised from `seed` as PyTorch initialises
    /// convolutions; codebooks initialised from the first training batch.
    public init(configuration: VQVAEConfiguration, seed: UInt64, name: String = "vqvae") {
        if let problem = configuration.problem { preconditionFailure("invalid VQ-VAE configuration: \(problem)") }
        self.configuration = configuration
        self.name = name
        var generator = SplitMix64(seed: seed)
        analysis = TransformNetworks.makeAnalysis(
            stride: configuration.stride, width: configuration.width, latentChannels: configuration.latentChannels,
            using: &generator)
        synthesis = TransformNetworks.makeSynthesis(
            stride: configuration.stride, width: configuration.width, latentChannels: configuration.latentChannels,
            using: &generator)
        quantizer = EMAQuantizer(
            groups: configuration.groups, codebookSize: configuration.codebookSize, dimension: configuration.dimension,
            decay: Self.codebookDecay, commitment: Self.commitment, deadCodeThreshold: Self.deadCodeThreshold,
            restartPatience: Self.restartPatience, seed: generator.next())
    }

    /// The parameters of the analysis and synthesis transforms, which the optimiser updates.
    /// The codebooks are not among them: they follow the encoder outputs by EMA.
    public var parameters: [Parameter] { analysis.parameters + synthesis.parameters }

    /// The synthesis transform's parameters: all that ``trainSynthesisStep(images:)`` trains.
    public var synthesisParameters: [Parameter] { synthesis.parameters }

    /// The current codebooks `[G, K, d]`.
    public var codebooks: Codebooks { quantizer.codebooks }

    /// Continues from `source`'s codebooks (same groups, size and dimension), without its EMA
    /// statistics: each code counts as seen once, so training moves it smoothly. For a warm start
    /// that keeps the quantiser as well as the transforms.
    public func adoptCodebooks(of source: VQVAE) {
        quantizer.restore(codebooks: source.codebooks)
    }

    /// True once the codebooks hold data (after the first training step, or when loaded).
    public var isInitialised: Bool { quantizer.initialised }

    /// Encoder: images `[N, 3, H, W]` in [0, 1], `H` and `W` multiples of the stride →
    /// symbols `[N, G, H/stride, W/stride]` flattened in that order, each in `0 ..< K`.
    public func symbols(images: Tensor) -> [Int32] {
        checkImages(images)
        return quantizer.codebooks.nearestSymbols(latent: analysis.forward(images))
    }

    /// Decoder: symbols `[N, G, h, w]` (flattened) → reconstruction `[N, 3, h·stride, w·stride]`.
    /// Not clamped: the caller clamps to [0, 1] and rounds to pixels.
    public func reconstruct(symbols: [Int32], batch: Int, height: Int, width: Int) -> Tensor {
        precondition(batch > 0 && height > 0 && width > 0, "reconstruct needs a non-empty latent grid")
        let latent = quantizer.codebooks.latent(symbols: symbols, batch: batch, height: height, width: width)
        return synthesis.forward(latent)
    }

    /// Latent positions of context the synthesis needs on each side of a block: a block of
    /// symbols synthesised with this many extra positions around it (where the latent grid has
    /// them) gives, inside the block, the pixels of the whole-grid synthesis. `ceil` of the
    /// synthesis's ``Sequential/receptiveRadius`` (2.75 positions for the reference transforms).
    public var synthesisHalo: Int { Int(synthesis.receptiveRadius.rounded(.up)) }

    /// Latent positions of context the analysis needs on each side of a block, likewise: the
    /// analysis's receptive radius in pixels divided by the stride, rounded up (2.75 positions,
    /// 22 pixels, at stride 8 for the reference transforms). Blocks start on multiples of the
    /// stride, so every strided convolution samples the same grid as on the whole image.
    public var analysisHalo: Int {
        Int((analysis.receptiveRadius / Double(configuration.stride)).rounded(.up))
    }

    /// One phase-I training step on `images` `[N, 3, H, W]` in [0, 1]: forward, quantise (updating
    /// the codebooks by EMA), reconstruct, and backward. ADDS the gradients of
    /// `mse + β·commitment` into ``parameters`` (zero them before; the optimiser steps after).
    ///
    /// - Parameter randomSeed: when given, reseeds the quantiser's random stream (initialisation,
    ///   dead-code restarts) first, so a trainer can make it a function of the step.
    public func trainStep(images: Tensor, randomSeed: UInt64? = nil) -> VQVAEStepReport {
        checkImages(images)
        if let randomSeed { quantizer.reseed(randomSeed) }
        let latent = analysis.forward(images)
        let quantized = quantizer.quantize(latent, training: true)
        let reconstruction = synthesis.forward(quantized.quantized)
        let (mse, gradient) = MeanSquaredError.evaluate(prediction: reconstruction, target: images)
        let quantizedGradient = synthesis.backward(gradient)
        let latentGradient = quantizer.latentGradient(
            latent: latent, quantized: quantized.quantized, quantizedGradient: quantizedGradient)
        _ = analysis.backward(latentGradient)
        return VQVAEStepReport(mse: mse, commitmentLoss: quantized.commitmentLoss,
                               symbols: quantized.symbols, usage: quantized.usage)
    }

    /// A decoder-only training step on `images` `[N, 3, H, W]` in [0, 1]: encode and quantise with
    /// the analysis transform and codebooks as they are (neither changes: no EMA update, no
    /// restart, no gradient into the analysis), reconstruct, and backward through the synthesis
    /// only. ADDS the gradient of the MSE into ``synthesisParameters``. Because the symbols an image
    /// maps to do not change, a prior trained on this model's symbols stays exactly as valid: the
    /// fine-tune improves reconstructions at the same rate.
    public func trainSynthesisStep(images: Tensor) -> VQVAEStepReport {
        checkImages(images)
        precondition(quantizer.initialised, "a decoder-only step needs trained codebooks")
        let quantized = quantizer.quantize(analysis.forward(images), training: false)
        let reconstruction = synthesis.forward(quantized.quantized)
        let (mse, gradient) = MeanSquaredError.evaluate(prediction: reconstruction, target: images)
        _ = synthesis.backward(gradient)
        return VQVAEStepReport(mse: mse, commitmentLoss: quantized.commitmentLoss,
                               symbols: quantized.symbols, usage: quantized.usage)
    }

    func checkImages(_ images: Tensor) {
        precondition(images.shape.count == 4 && images.shape[1] == 3, "images must be [N, 3, H, W], found \(images.shape)")
        let s = configuration.stride
        precondition(images.shape[2] % s == 0 && images.shape[3] % s == 0 && images.shape[2] > 0 && images.shape[3] > 0,
                     "image height and width must be positive multiples of the stride \(s), found \(images.shape)")
    }
}

/// What one training step measured.
public struct VQVAEStepReport: Sendable {
    /// Mean squared error of the reconstruction over every sample, on the [0, 1] scale.
    public var mse: Float
    /// β · mean ‖L − L̂‖² over every latent component.
    public var commitmentLoss: Float
    /// The batch's symbols `[N, G, h, w]`.
    public var symbols: [Int32]
    /// Codes used and perplexity per group in this batch.
    public var usage: CodebookUsage

    /// The loss the step minimised: `mse + commitmentLoss`.
    public var loss: Float { mse + commitmentLoss }

    /// Peak signal-to-noise ratio of the batch in dB for a peak of 1: `10 log10(1 / mse)`.
    public var psnr: Double { peakSignalToNoiseRatio(mse: Double(mse)) }
}

/// `10 log10(1 / mse)` in dB for signals on the [0, 1] scale; infinity for mse 0.
public func peakSignalToNoiseRatio(mse: Double) -> Double {
    mse > 0 ? -10 * log10(mse) : .infinity
}
