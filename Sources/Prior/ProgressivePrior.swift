import Engine
import Foundation
import IntegerPrior
import SafeTensors

/// The float stage priors of a progressive (residual VQ) model file (PyTorch's `ProgressivePrior`):
/// one `StageConditionalPrior` per stage, and the codebooks that turn the earlier stages' symbols
/// into stage k's condition c = Σ_{j<k} codebook_j[z_j] (`Tools/train_torch/README.md`, "What the
/// files hold"). Stages are numbered from 1. `freeze()` derives the `IntegerStagePriors` the codec
/// codes with (`Formats/prior.md` §6).
public final class ProgressivePrior {
    /// Metadata key of the JSON list of `StagePriorConfiguration`s.
    public static let configurationKey = "rvq.prior.config"
    /// Metadata key of the progressive VQ-VAE's configuration (`latentChannels`, `stages`).
    public static let modelConfigurationKey = "rvq.config"
    /// Key of stage `k`'s codebook `[G_k, K_k, D/G_k]` (F32).
    public static func codebookKey(_ k: Int) -> String { "quantizer.stage\(k).codebook" }

    /// D: channels of the latent.
    public let latentChannels: Int
    /// The stage priors, stage 1 first.
    public let stages: [StageConditionalPrior]
    /// Stage j's codebook (index j − 1) for the stages a later stage is conditioned on; empty after.
    let codebooks: [[Float]]

    /// The members of `rvq.config` this reads.
    private struct ModelConfiguration: Decodable {
        var latentChannels: Int
        var stages: [[Int]]
    }

    /// Loads the stage priors from a model file: metadata `rvq.config` and `rvq.prior.config`,
    /// every `prior.stage<k>.*` tensor (F32, F16 or BF16) and the codebooks the conditions read.
    /// Throws `PriorError` naming the metadata that is missing or inconsistent, or the tensor that
    /// is missing, unexpected or of the wrong shape.
    public init(file: SafeTensorsFile) throws(PriorError) {
        let configurations = try StagePriorConfiguration.parseList(file.metadata[Self.configurationKey],
                                                                   key: Self.configurationKey)
        let modelKey = Self.modelConfigurationKey
        guard let text = file.metadata[modelKey] else { throw .missingMetadata(key: modelKey) }
        let model: ModelConfiguration
        do {
            model = try JSONDecoder().decode(ModelConfiguration.self, from: Data(text.utf8))
        } catch {
            throw .malformedMetadata(key: modelKey, reason: String(describing: error))
        }
        let d = model.latentChannels
        guard (1...1024).contains(d) else { throw .invalidConfiguration(field: "latentChannels", value: d, expected: "1…1024") }
        guard model.stages.count == configurations.count else {
            throw .malformedMetadata(key: Self.configurationKey, reason: "\(configurations.count) stage priors for the "
                                     + "\(model.stages.count) stages of \(modelKey)")
        }
        for (index, (c, stage)) in zip(configurations, model.stages).enumerated() {
            guard stage == [c.groups, c.codebookSize] else {
                throw .malformedMetadata(key: Self.configurationKey, reason: "stage \(index + 1)'s prior models \(c.groups) "
                                         + "groups of \(c.codebookSize) symbols, but \(modelKey) says \(stage)")
            }
            guard d % c.groups == 0 else {
                throw .invalidConfiguration(field: "stage \(index + 1) groups", value: c.groups,
                                            expected: "a divisor of latentChannels (\(d))")
            }
            guard (index == 0 ? [0] : [0, d]).contains(c.conditionChannels) else {
                throw .invalidConfiguration(field: "stage \(index + 1) conditionChannels", value: c.conditionChannels,
                                            expected: index == 0 ? "0 (the first stage reads no earlier stage)"
                                                                 : "0 or latentChannels (\(d))")
            }
        }

        var stages: [StageConditionalPrior] = []
        for (index, c) in configurations.enumerated() {
            let prefix = StageConditionalPrior.tensorPrefix(stage: index + 1)
            let ours = file.tensors.filter { $0.key.hasPrefix(prefix) }
            // Refused before building the prior, which would allocate what the configuration asks.
            let needed = c.prior.minimumStoredValues + c.blocks * 2 * c.channels * c.conditionChannels * 10
            let stored = ours.values.reduce(0) { $0 + $1.elementCount }
            guard stored >= needed else {
                throw .configurationExceedsWeights(key: Self.configurationKey, needed: needed, found: stored)
            }
            let prior = StageConditionalPrior(configuration: c, stage: index + 1, seed: 0)
            do { try SafeTensorsFile(tensors: ours).load(into: prior.parameters) } catch { throw .tensor(error) }
            stages.append(prior)
        }
        let stored = IntegerStagePriors.storedCodebooks(configurations)
        var codebooks: [[Float]] = []
        for (index, c) in configurations.enumerated() {
            guard index < stored else { codebooks.append([]); continue }
            do {
                codebooks.append(try file.floats(Self.codebookKey(index + 1), shape: [c.groups, c.codebookSize, d / c.groups]))
            } catch {
                throw .tensor(error)
            }
        }
        latentChannels = d
        self.stages = stages
        self.codebooks = codebooks
    }

    /// S: the number of stages.
    public var count: Int { stages.count }

    /// Stage `stage`'s condition: the decoded latent of the earlier stages, c = Σ_{j<k}
    /// codebook_j[z_j] `[N, D, height, width]`, or nil for a prior that reads none.
    /// - earlier: `earlier[j − 1]` holds stage j's symbols `[N, G_j, height, width]`.
    public func condition(stage: Int, earlier: [[Int32]], batch: Int, height: Int, width: Int) -> Tensor? {
        precondition((1...count).contains(stage), "stage \(stage) is outside 1…\(count)")
        precondition(earlier.count == stage - 1, "stage \(stage) reads \(stage - 1) earlier stages, found \(earlier.count)")
        guard stages[stage - 1].configuration.conditionChannels > 0 else { return nil }
        let (d, plane) = (latentChannels, height * width)
        var c = Tensor(zeros: [batch, d, height, width])
        for (j, symbols) in earlier.enumerated() {
            let (g, k) = (stages[j].configuration.groups, stages[j].configuration.codebookSize)
            let dj = d / g
            precondition(symbols.count == batch * g * plane, "stage \(j + 1): \(symbols.count) symbols do not fill \([batch, g, height, width])")
            for n in 0..<batch {
                for group in 0..<g {
                    for p in 0..<plane {
                        let s = Int(symbols[(n * g + group) * plane + p])
                        precondition(s >= 0 && s < k, "stage \(j + 1): symbol \(s) is outside 0..<\(k)")
                        for i in 0..<dj {
                            c.data[(n * d + group * dj + i) * plane + p] += codebooks[j][(group * k + s) * dj + i]
                        }
                    }
                }
            }
        }
        return c
    }

    /// Stage `stage`'s logits `[N, G_k·K_k, height, width]` for its symbols, given the symbols of
    /// the earlier stages (see `condition(stage:earlier:batch:height:width:)`).
    public func logits(stage: Int, symbols: [Int32], earlier: [[Int32]], batch: Int, height: Int, width: Int) -> Tensor {
        let c = condition(stage: stage, earlier: earlier, batch: batch, height: height, width: width)
        return stages[stage - 1].logits(symbols: symbols, condition: c, batch: batch, height: height, width: width)
    }

    /// Total −log2 p of stage `stage`'s symbols under the float model, in bits.
    public func crossEntropyBits(stage: Int, symbols: [Int32], earlier: [[Int32]], batch: Int, height: Int, width: Int) -> Double {
        let c = condition(stage: stage, earlier: earlier, batch: batch, height: height, width: width)
        return stages[stage - 1].crossEntropyBits(symbols: symbols, condition: c, batch: batch, height: height, width: width)
    }

    /// The integer stage priors the codec codes with, derived deterministically from these weights
    /// (`Formats/prior.md` §6): each stage's network frozen as `PixelCNNPrior.freeze()` freezes a
    /// one-stage prior, the codebooks stored as I16 in units of one scale per latent channel,
    /// σ[d] = B[d] / (8192 − J) with B[d] = Σ_{j ≤ J} max |codebook_j[·, d]| over the J stored
    /// codebooks (so any sum of rounded codes stays within ±8192), and the condition convolutions
    /// quantised into the stacks' accumulators with those scales. `weightBits`: 16 (I16 weights, the
    /// default) or 8 (I8: half the size, at a measured cost in rate, `Formats/prior.md` §4).
    public func freeze(weightBits: Int = 16) -> IntegerStagePriors {
        let configurations = stages.map(\.configuration)
        let d = latentChannels
        let stored = IntegerStagePriors.storedCodebooks(configurations)
        let a = Double(IntegerFormat.activationLimit)
        var bound = [Double](repeating: 0, count: d)
        for j in 0..<stored {
            let (g, k) = (configurations[j].groups, configurations[j].codebookSize)
            let dj = d / g
            var largest = [Double](repeating: 0, count: d)
            for (index, value) in codebooks[j].enumerated() {
                let channel = (index / (k * dj)) * dj + index % dj
                largest[channel] = max(largest[channel], abs(Double(value)))
            }
            for channel in 0..<d { bound[channel] += largest[channel] }
        }
        let scale = bound.map { $0 > 0 ? $0 / (a - Double(stored)) : 1 / a }
        var tensors: [String: StoredTensor] = [:]
        for j in 0..<stored {
            let (g, k) = (configurations[j].groups, configurations[j].codebookSize)
            let dj = d / g
            let values = codebooks[j].enumerated().map { index, value in
                Int16((Double(value) / scale[(index / (k * dj)) * dj + index % dj]).rounded())
            }
            tensors[IntegerStagePriors.codebookKey(j + 1)] = StoredTensor(int16s: values, shape: [g, k, dj])
        }
        for (index, stage) in stages.enumerated() {
            let condition = stage.conditions.isEmpty ? nil : PriorFreezer.Condition(
                scale: scale, bound: bound,
                vertical: stage.conditions.map { ($0.vertical.weight.value.data.map(Double.init),
                                                  $0.vertical.bias!.value.data.map(Double.init)) },
                horizontal: stage.conditions.map { ($0.horizontal.weight.value.data.map(Double.init),
                                                    $0.horizontal.bias!.value.data.map(Double.init)) })
            let frozen = PriorFreezer(prior: stage.prior, weightBits: weightBits).integerTensors(prefix: IntegerStagePriors.stagePrefix(index + 1),
                                                                        condition: condition)
            tensors.merge(frozen) { first, _ in first }
        }
        let metadata = [IntegerStagePriors.configurationKey:
                            IntegerStagePriors.Header(latentChannels: d, stages: configurations).json()]
        do {
            return try IntegerStagePriors(metadata: metadata, tensors: tensors)
        } catch {
            preconditionFailure("freeze produced invalid integer stage priors: \(error)")
        }
    }
}
