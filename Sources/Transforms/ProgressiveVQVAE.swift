import Engine
import Quantizer
import SafeTensors
import SeededRandom

/// A progressive VQ-VAE: one transform pair, S residual quantiser stages.
///
/// ```
/// image [N,3,H,W] ─▶ analysis ─▶ L = r₁ ─▶ z₁ = nearest(r₁) ─▶ r₂ = r₁ − q₁ ─▶ z₂ = nearest(r₂) ─▶ … z_S
///                                          q_k = codebook_k[z_k]
/// reconstruction at level n ◀─ synthesis ◀─ L̂ₙ = q₁ + … + qₙ
/// ```
///
/// Quality level n decodes the first n stages' symbols; later stages only add detail. Trained by
/// `Tools/train_torch` (`train.py rvq`, quantiser dropout); this type runs it for coding.
/// Model file (`Formats/model.md`): `analysis.*`, `synthesis.*` as in a one-stage file,
/// `quantizer.stage{k}.codebook` F32 `[G_k, K_k, D/G_k]` for k = 1…S, metadata `rvq.config`
/// (``ProgressiveConfiguration``) and `name`.
///
/// Not thread-safe: the layers keep per-call caches.
public final class ProgressiveVQVAE {
    public static let configurationKey = "rvq.config"

    public let configuration: ProgressiveConfiguration
    /// Model name stored in the file (metadata `name`).
    public let name: String
    /// Each stage's codebooks, first stage first.
    public let codebooks: [Codebooks]
    let analysis: Sequential
    let synthesis: Sequential

    /// The codebook key of stage `index` (0-based): `quantizer.stage{index + 1}.codebook`.
    public static func codebookKey(stage index: Int) -> String { "quantizer.stage\(index + 1).codebook" }

    /// Loads configuration and weights. Tensors of other components (`prior.*`, …) are ignored; a
    /// tensor under `analysis.`, `synthesis.` or `quantizer.` this configuration lacks is an error.
    public init(file: SafeTensorsFile) throws(TransformsError) {
        let key = Self.configurationKey
        guard let text = file.metadata[key] else { throw .missingMetadata(key: key) }
        guard let configuration = ProgressiveConfiguration(json: text) else {
            throw .invalidConfiguration(key: key, found: text,
                                        reason: "expected an object with integer stride, width, latentChannels and "
                                            + "a list stages of [groups, codebookSize] pairs")
        }
        if let problem = configuration.problem { throw .invalidConfiguration(key: key, found: text, reason: problem) }
        let codebookKeys = configuration.stages.indices.map { Self.codebookKey(stage: $0) }
        // Names first, from a one-channel model of the same stride, so that a file lacking tensors
        // or declaring more weights than it holds is refused before anything is allocated for it.
        var generator = SplitMix64(seed: 0)
        let names = TransformNetworks.makeAnalysis(stride: configuration.stride, width: 1, latentChannels: 1, using: &generator)
            .parameters.map(\.name)
            + TransformNetworks.makeSynthesis(stride: configuration.stride, width: 1, latentChannels: 1, using: &generator)
            .parameters.map(\.name) + codebookKeys
        let missing = names.filter { !file.storesFloats($0) }
        if !missing.isEmpty { throw .weights(.missingTensors(missing.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })) }
        let stored = file.tensors.reduce(0) { sum, entry in
            let ours = entry.key.hasPrefix("analysis.") || entry.key.hasPrefix("synthesis.") || codebookKeys.contains(entry.key)
            return ours ? sum + SafeTensorsFile.valuesHeld(key: entry.key, tensor: entry.value) : sum
        }
        guard stored >= configuration.minimumStoredValues else {
            throw .configurationExceedsWeights(key: key, needed: configuration.minimumStoredValues, found: stored)
        }
        analysis = TransformNetworks.makeAnalysis(stride: configuration.stride, width: configuration.width,
                                                  latentChannels: configuration.latentChannels, using: &generator)
        synthesis = TransformNetworks.makeSynthesis(stride: configuration.stride, width: configuration.width,
                                                    latentChannels: configuration.latentChannels, using: &generator)
        do {
            let parameters = analysis.parameters + synthesis.parameters
            let known = Set(parameters.flatMap { file.storageKeys(of: $0.name) } + codebookKeys)
            let unexpected = file.tensors.keys.filter { key in
                (key.hasPrefix("analysis.") || key.hasPrefix("synthesis.") || key.hasPrefix("quantizer.")) && !known.contains(key)
            }
            if !unexpected.isEmpty {
                throw SafeTensorsError.unexpectedTensors(unexpected.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            }
            var books: [Codebooks] = []
            for (index, stage) in configuration.stages.enumerated() {
                let d = configuration.latentChannels / stage.groups
                let vectors = try file.floats(codebookKeys[index], shape: [stage.groups, stage.codebookSize, d])
                if let bad = vectors.first(where: { !$0.isFinite }) {
                    throw SafeTensorsError.malformedEntry(key: codebookKeys[index], field: "values",
                                                          expected: "finite codebook vectors", found: String(bad))
                }
                books.append(Codebooks(groups: stage.groups, codebookSize: stage.codebookSize, dimension: d, vectors: vectors))
            }
            try file.load(into: parameters, allowingUnusedTensors: true)
            codebooks = books
        } catch let error as SafeTensorsError {
            throw .weights(error)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
        self.configuration = configuration
        self.name = file.metadata[VQVAE.nameKey] ?? "rvq"
    }

    /// The number of stages, S.
    public var stageCount: Int { codebooks.count }

    /// Encoder: images `[N, 3, H, W]` in [0, 1], `H` and `W` multiples of the stride → each stage's
    /// symbols `[N, G_k, H/stride, W/stride]` (flattened), stage 1 first. Stage k's symbols are
    /// the nearest codes (squared distance, ties to the lowest index) of what stages 1…k−1 left.
    public func stageSymbols(images: Tensor, stages count: Int? = nil) -> [[Int32]] {
        let count = count ?? stageCount
        precondition(count >= 1 && count <= stageCount, "stages must be 1 to \(stageCount), found \(count)")
        checkImages(images)
        var residual = analysis.forward(images)
        let (n, h, w) = (residual.shape[0], residual.shape[2], residual.shape[3])
        var symbols: [[Int32]] = []
        for k in 0..<count {
            let found = codebooks[k].nearestSymbols(latent: residual)
            symbols.append(found)
            if k + 1 < count {
                let quantized = codebooks[k].latent(symbols: found, batch: n, height: h, width: w)
                for i in residual.data.indices { residual.data[i] -= quantized.data[i] }
            }
        }
        return symbols
    }

    /// The decoded latent `q₁ + … + qₙ` `[N, D, h, w]` of the stages in `stageSymbols` (n of them,
    /// each `[N, G_k, h, w]`), summed in stage order.
    public func latent(stageSymbols: [[Int32]], batch: Int, height: Int, width: Int) -> Tensor {
        precondition(!stageSymbols.isEmpty && stageSymbols.count <= stageCount,
                     "stage symbols must hold 1 to \(stageCount) stages, found \(stageSymbols.count)")
        var sum = codebooks[0].latent(symbols: stageSymbols[0], batch: batch, height: height, width: width)
        for k in 1..<stageSymbols.count {
            let part = codebooks[k].latent(symbols: stageSymbols[k], batch: batch, height: height, width: width)
            for i in sum.data.indices { sum.data[i] += part.data[i] }
        }
        return sum
    }

    /// Decoder: the first n stages' symbols (n = `stageSymbols.count`) → reconstruction
    /// `[N, 3, h·stride, w·stride]`, not clamped.
    public func reconstruct(stageSymbols: [[Int32]], batch: Int, height: Int, width: Int) -> Tensor {
        precondition(batch > 0 && height > 0 && width > 0, "reconstruct needs a non-empty latent grid")
        return synthesis.forward(latent(stageSymbols: stageSymbols, batch: batch, height: height, width: width))
    }

    /// Images must be `[N, 3, H, W]` with H and W positive multiples of the stride.
    func checkImages(_ images: Tensor) {
        precondition(images.shape.count == 4 && images.shape[1] == 3, "images must be [N, 3, H, W], found \(images.shape)")
        let s = configuration.stride
        precondition(images.shape[2] % s == 0 && images.shape[3] % s == 0 && images.shape[2] > 0 && images.shape[3] > 0,
                     "image height and width must be positive multiples of the stride \(s), found \(images.shape)")
    }

    /// Latent positions of context the synthesis needs on each side of a block (as ``VQVAE/synthesisHalo``).
    public var synthesisHalo: Int { Int(synthesis.receptiveRadius.rounded(.up)) }

    /// Latent positions of context the analysis needs on each side of a block (as ``VQVAE/analysisHalo``).
    public var analysisHalo: Int { Int((analysis.receptiveRadius / Double(configuration.stride)).rounded(.up)) }
}
