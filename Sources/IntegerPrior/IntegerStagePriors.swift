import Foundation
import SafeTensors

/// The integer priors of a progressive (residual VQ) model, one per stage: what codes stage k's
/// symbols given the symbols of stages 1…k−1. Stages are numbered from 1, as quality levels and
/// the model file's keys are.
///
/// Stage k's prior is the one-stage integer prior (`IntegerPrior`, `Formats/prior.md` §3) over
/// the stage's symbols `[G_k, h, w]`, plus, when it is conditioned, the earlier stages' decoded
/// latent c = Σ_{j<k} codebook_j[z_j] `[D, h, w]` entering every block through two unmasked
/// convolutions: 3 × 3 (zero padding 1) into the vertical accumulators, 1 × 1 into the horizontal
/// ones. c is computed in integers from symbols alone: the codebooks are stored as I16 with one
/// fixed scale per latent channel and summed exactly, so the encoder and the decoder build the
/// same tables bit for bit (docs/design.md §3). `Formats/prior.md` §6 specifies it byte for byte.
///
/// Model file: tensors `prior_int.stage<k>.*` (each stage's network under the one-stage names,
/// plus `block<b>.condition.{vertical,horizontal}.weight`), `prior_int.condition.stage<j>.codebook`
/// and metadata `rvq.prior_int.config`.
public struct IntegerStagePriors: Sendable {
    /// D: channels of the latent (and of every conditioned stage's condition).
    public let latentChannels: Int
    /// The stages' configurations, stage 1 first.
    public let configurations: [StagePriorConfiguration]
    let tensors: [String: StoredTensor]
    let networks: [IntegerNetwork]
    /// Stage j's codebook (index j − 1) in condition units, `[G_j, K_j, D/G_j]`, for the stages
    /// some later stage is conditioned on; empty arrays after them.
    let codebooks: [[Int16]]

    /// Metadata key holding the JSON `Header`.
    public static let configurationKey = "rvq.prior_int.config"
    /// Key prefix of every tensor of the integer stage priors.
    public static let tensorPrefix = "prior_int."
    /// Key prefix of stage `k`'s integer network (k from 1).
    public static func stagePrefix(_ k: Int) -> String { "prior_int.stage\(k)." }
    /// Key of stage `j`'s codebook in condition units (j from 1).
    public static func codebookKey(_ j: Int) -> String { "prior_int.condition.stage\(j).codebook" }

    /// S: the number of stages.
    public var count: Int { configurations.count }

    /// Stage `k`'s configuration, k in 1…S.
    public func configuration(stage k: Int) -> StagePriorConfiguration {
        precondition((1...count).contains(k), "stage \(k) is outside 1…\(count)")
        return configurations[k - 1]
    }

    /// Reads and validates the integer stage priors of a model file: the configuration, every
    /// network's tensors as `IntegerPrior` does, the condition weights and codebooks (the sum of
    /// the codebooks' largest magnitudes fits the activation range, so every condition value is
    /// in −8192…8192 and the accumulator budgets hold). Unknown `prior_int.*` tensors are refused.
    public init(file: SafeTensorsFile) throws(PriorError) {
        try self.init(metadata: file.metadata, tensors: file.tensors)
    }

    /// Every tensor of the integer stage priors, keyed by name (I8, I16 or I32).
    public func storedTensors() -> [String: StoredTensor] { tensors }

    /// Metadata entries of the integer stage priors: `rvq.prior_int.config`.
    public var metadata: [String: String] {
        [Self.configurationKey: Header(latentChannels: latentChannels, stages: configurations).json()]
    }

    /// The JSON of `rvq.prior_int.config`.
    package struct Header: Codable, Equatable, VersionedHeader {
        package var format: Int
        var latentChannels: Int
        var stages: [StagePriorConfiguration]

        package init(latentChannels: Int, stages: [StagePriorConfiguration]) {
            format = IntegerFormat.version
            self.latentChannels = latentChannels
            self.stages = stages
        }

        package func json() -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: try! encoder.encode(self), as: UTF8.self)
        }
    }

    /// The stages whose codebooks a file holds: 1 … (the last conditioned stage − 1).
    package static func storedCodebooks(_ stages: [StagePriorConfiguration]) -> Int {
        (stages.lastIndex { $0.conditionChannels > 0 }) ?? 0
    }

    package init(metadata: [String: String], tensors allTensors: [String: StoredTensor]) throws(PriorError) {
        let key = Self.configurationKey
        let header = try IntegerFormat.header(metadata, key: key, as: Header.self)
        let d = header.latentChannels
        guard (1...1024).contains(d) else {
            throw .invalidConfiguration(field: "latentChannels", value: d, expected: "1…1024")
        }
        guard (1...16).contains(header.stages.count) else {
            throw .malformedMetadata(key: key, reason: "a progressive model has 1 to 16 stages, found \(header.stages.count)")
        }
        for (index, stage) in header.stages.enumerated() {
            try stage.validate()
            guard d % stage.groups == 0 else {
                throw .invalidConfiguration(field: "stage \(index + 1) groups", value: stage.groups,
                                            expected: "a divisor of latentChannels (\(d))")
            }
            let allowed = index == 0 ? [0] : [0, d]
            guard allowed.contains(stage.conditionChannels) else {
                throw .invalidConfiguration(field: "stage \(index + 1) conditionChannels", value: stage.conditionChannels,
                                            expected: index == 0 ? "0 (the first stage reads no earlier stage)"
                                                                 : "0 or latentChannels (\(d))")
            }
        }

        let ours = allTensors.filter { $0.key.hasPrefix(Self.tensorPrefix) }
        var used: Set<String> = []
        // Codebooks: I16 [G_j, K_j, D/G_j]; per latent channel, the largest magnitudes summed over
        // the stored stages stay within the activation range, so any sum of codes does too.
        let stored = Self.storedCodebooks(header.stages)
        var codebooks: [[Int16]] = []
        var reach = [Int64](repeating: 0, count: d)
        let limit = Int64(IntegerFormat.activationLimit)
        for j in 1...header.stages.count {
            guard j <= stored else { codebooks.append([]); continue }
            let stage = header.stages[j - 1]
            let (g, k, dj) = (stage.groups, stage.codebookSize, d / stage.groups)
            let name = Self.codebookKey(j)
            guard let tensor = ours[name] else { throw .tensor(.missingTensors([name])) }
            used.insert(name)
            guard tensor.dtype == .i16 else { throw .tensor(.wrongDType(key: name, expected: [.i16], found: tensor.dtype)) }
            guard tensor.shape == [g, k, dj] else {
                throw .tensor(.shapeMismatch(key: name, expected: [g, k, dj], found: tensor.shape))
            }
            let values: [Int16]
            do { values = try tensor.int16s() } catch { throw .tensor(error) }
            var largest = [Int64](repeating: 0, count: d)
            for (index, value) in values.enumerated() {
                let channel = (index / (k * dj)) * dj + index % dj
                largest[channel] = max(largest[channel], abs(Int64(value)))
            }
            for channel in 0..<d {
                reach[channel] += largest[channel]
                if reach[channel] > limit {
                    throw .invalidTensorValue(key: name, index: channel, found: reach[channel],
                                              expected: "latent channel \(channel) to satisfy Σ_j max|codebook_j| ≤ \(limit) over "
                                                + "stages 1…\(j)")
                }
            }
            codebooks.append(values)
        }

        var networks: [IntegerNetwork] = []
        for (index, stage) in header.stages.enumerated() {
            let prefix = Self.stagePrefix(index + 1)
            var reader = TensorReader(tensors: ours.filter { $0.key.hasPrefix(prefix) }, configuration: stage.prior,
                                      prefix: prefix, conditionChannels: stage.conditionChannels)
            networks.append(try reader.read())
            used.formUnion(reader.used)
        }
        let unused = Set(ours.keys).subtracting(used)
        if !unused.isEmpty {
            throw .tensor(.unexpectedTensors(unused.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }))
        }
        latentChannels = d
        configurations = header.stages
        tensors = ours
        self.networks = networks
        self.codebooks = codebooks
    }
}
