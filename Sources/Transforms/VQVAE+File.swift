import Engine
import Quantizer
import SafeTensors

/// The VQ-VAE's part of a model file (Formats/model.md):
/// - tensors `analysis.*` and `synthesis.*` (the transforms' parameters, as named by
///   ``TransformNetworks``), `quantizer.codebook` F32 `[G, K, d]`;
/// - in checkpoints only, the EMA state `quantizer.cluster_size` F32 `[G, K]`,
///   `quantizer.cluster_sum` F32 `[G, K, d]` and `quantizer.steps_unused` I32 `[G, K]`;
/// - metadata `vqvae.config` (``VQVAEConfiguration`` JSON) and `name`.
extension VQVAE {
    public static let configurationKey = "vqvae.config"
    public static let nameKey = "name"
    public static let codebookKey = "quantizer.codebook"
    public static let clusterSizeKey = "quantizer.cluster_size"
    public static let clusterSumKey = "quantizer.cluster_sum"
    public static let stepsUnusedKey = "quantizer.steps_unused"

    /// Loads configuration and weights, and the EMA state when the file has it. Tensors of other
    /// components (`prior.*`, …) are ignored; a tensor under `analysis.`, `synthesis.` or
    /// `quantizer.` that this configuration does not have is an error.
    public convenience init(file: SafeTensorsFile) throws(TransformsError) {
        guard let text = file.metadata[Self.configurationKey] else { throw .missingMetadata(key: Self.configurationKey) }
        guard let configuration = VQVAEConfiguration(json: text) else {
            throw .invalidConfiguration(key: Self.configurationKey, found: text,
                                        reason: "expected an object with integer stride, width, latentChannels, groups and codebookSize")
        }
        if let problem = configuration.problem {
            throw .invalidConfiguration(key: Self.configurationKey, found: text, reason: problem)
        }
        // Before building the model: a file that lacks tensors says so (their names follow from the
        // stride alone: a one-channel model of the same stride has them), and a configuration that
        // needs more weights than the file holds is refused, since building it would allocate them.
        let names = VQVAE(configuration: VQVAEConfiguration(stride: configuration.stride, width: 1,
                                                            latentChannels: configuration.groups,
                                                            groups: configuration.groups, codebookSize: 2),
                          seed: 0).parameters.map(\.name) + [Self.codebookKey]
        let missing = names.filter { !file.storesFloats($0) }
        if !missing.isEmpty { throw .weights(.missingTensors(missing.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })) }
        let stored = file.tensors.reduce(0) { sum, entry in
            let ours = entry.key.hasPrefix("analysis.") || entry.key.hasPrefix("synthesis.") || entry.key == Self.codebookKey
            return ours ? sum + SafeTensorsFile.valuesHeld(key: entry.key, tensor: entry.value) : sum
        }
        guard stored >= configuration.minimumStoredValues else {
            throw .configurationExceedsWeights(key: Self.configurationKey, needed: configuration.minimumStoredValues, found: stored)
        }
        self.init(configuration: configuration, seed: 0, name: file.metadata[Self.nameKey] ?? "vqvae")
        let (g, k, d) = (configuration.groups, configuration.codebookSize, configuration.dimension)
        do {
            let parameters = self.parameters
            let known = Set(parameters.flatMap { file.storageKeys(of: $0.name) } + [Self.codebookKey, Self.clusterSizeKey, Self.clusterSumKey, Self.stepsUnusedKey])
            let unexpected = file.tensors.keys.filter { key in
                (key.hasPrefix("analysis.") || key.hasPrefix("synthesis.") || key.hasPrefix("quantizer.")) && !known.contains(key)
            }
            if !unexpected.isEmpty {
                throw SafeTensorsError.unexpectedTensors(unexpected.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            }
            let vectors = try file.floats(Self.codebookKey, shape: [g, k, d])
            try file.load(into: parameters, allowingUnusedTensors: true)
            let books = Codebooks(groups: g, codebookSize: k, dimension: d, vectors: vectors)
            if file.tensors[Self.clusterSizeKey] != nil || file.tensors[Self.clusterSumKey] != nil {
                let sizes = try file.floats(Self.clusterSizeKey, shape: [g, k])
                let sums = try file.floats(Self.clusterSumKey, shape: [g, k, d])
                var unused: [Int]? = nil
                if file.tensors[Self.stepsUnusedKey] != nil {
                    let values = try file.int32s(Self.stepsUnusedKey, shape: [g, k])
                    if let bad = values.first(where: { $0 < 0 }) {
                        throw SafeTensorsError.malformedEntry(key: Self.stepsUnusedKey, field: "values",
                                                              expected: "non-negative step counts", found: String(bad))
                    }
                    unused = values.map(Int.init)
                }
                quantizer.restore(codebooks: books, clusterSize: sizes, clusterSum: sums, stepsUnused: unused)
            } else {
                quantizer.restore(codebooks: books)
            }
        } catch let error as SafeTensorsError {
            throw .weights(error)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    /// The model's tensors: transforms in `dtype` (F32, F16 or BF16), the codebook in F32, and with
    /// `includeTrainingState` the EMA state a checkpoint needs to resume (never needed to code).
    public func storedTensors(dtype: DType = .f32, includeTrainingState: Bool = false) -> [String: StoredTensor] {
        var tensors = SafeTensorsFile(parameters: parameters, dtype: dtype).tensors
        let (g, k, d) = (configuration.groups, configuration.codebookSize, configuration.dimension)
        tensors[Self.codebookKey] = StoredTensor(floats: quantizer.codebooks.vectors, shape: [g, k, d])
        if includeTrainingState {
            tensors[Self.clusterSizeKey] = StoredTensor(floats: quantizer.clusterSize, shape: [g, k])
            tensors[Self.clusterSumKey] = StoredTensor(floats: quantizer.clusterSum, shape: [g, k, d])
            tensors[Self.stepsUnusedKey] = StoredTensor(int32s: quantizer.stepsUnused.map { Int32(clamping: $0) }, shape: [g, k])
        }
        return tensors
    }

    /// Metadata entries of the model file: `vqvae.config` and `name`.
    public var metadata: [String: String] {
        [Self.configurationKey: configuration.json, Self.nameKey: name]
    }

    /// True when `name` can name a model: 1 to 64 bytes of printable ASCII (space to tilde).
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return !bytes.isEmpty && bytes.count <= 64 && bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }
}
