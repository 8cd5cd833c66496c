import Engine

extension PixelCNNPrior {
    /// Loads the float prior from a model file: metadata `prior.config` and every `prior.*`
    /// tensor (F32, F16 or BF16). Other tensors in the file (the VQ-VAE's, `prior_int.*`) are
    /// ignored. Throws `PriorError` naming the missing metadata, or the tensor that is missing or
    /// has the wrong shape.
    public convenience init(file: SafeTensorsFile) throws(PriorError) {
        let configuration = try PriorConfiguration.parse(file.metadata[Self.configurationKey], key: Self.configurationKey)
        let ours = file.tensors.filter { $0.key.hasPrefix(Self.tensorPrefix) }
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
