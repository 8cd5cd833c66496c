import Engine
import IntegerPrior
import SafeTensors

extension PixelCNNPrior {
    /// Loads the float prior from a model file: metadata `prior.config` and every `prior.*`
    /// tensor (F32, F16 or BF16). Other tensors in the file (the VQ-VAE's, `prior_int.*`) are
    /// ignored. Throws `PriorError` naming the missing metadata, or the tensor that is missing or
    /// has the wrong shape.
    public convenience init(file: SafeTensorsFile) throws(PriorError) {
        let configuration = try PriorConfiguration.parse(file.metadata[Self.configurationKey], key: Self.configurationKey)
        let ours = file.tensors.filter { $0.key.hasPrefix(Self.tensorPrefix) }
        // Before building the prior: missing tensors are named (a prior of the same groups and
        // blocks with one channel per group has the same names), and a configuration that needs
        // more weights than the file holds is refused, since building it would allocate them.
        let proxy = PriorConfiguration(groups: configuration.groups, codebookSize: 2, embeddingDimension: 1,
                                       channels: configuration.groups, blocks: configuration.blocks, kernelSize: 3,
                                       headChannels: configuration.groups)
        let missing = PixelCNNPrior(configuration: proxy, seed: 0).parameters.map(\.name).filter { ours[$0] == nil }
        if !missing.isEmpty { throw .tensor(.missingTensors(missing.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })) }
        let stored = ours.values.reduce(0) { $0 + $1.elementCount }
        guard stored >= configuration.minimumStoredValues else {
            throw .configurationExceedsWeights(key: Self.configurationKey, needed: configuration.minimumStoredValues, found: stored)
        }
        self.init(configuration: configuration, seed: 0)
        let parameters = self.parameters
        do {
            try SafeTensorsFile(tensors: ours).load(into: parameters)
        } catch {
            throw .tensor(error)
        }
    }

    /// The float prior's tensors, keyed by parameter name, as `dtype` (F32, F16 or BF16).
    public func storedTensors(dtype: DType = .f32) -> [String: StoredTensor] {
        SafeTensorsFile(parameters: parameters, dtype: dtype).tensors
    }

    /// Metadata entries of the float prior: `prior.config`.
    public var metadata: [String: String] {
        [Self.configurationKey: configuration.json()]
    }
}
