import SafeTensors

/// Parameters to and from model files, by their stable names.
extension SafeTensorsFile {
    /// A file holding each parameter's value under its name, stored as `dtype` (F32, F16 or BF16).
    /// Parameter names must be unique and must not be `__metadata__`.
    public init(parameters: [Parameter], dtype: DType = .f32, metadata: [String: String] = [:]) {
        var tensors: [String: StoredTensor] = [:]
        for parameter in parameters {
            precondition(tensors[parameter.name] == nil, "two parameters are named \"\(parameter.name)\"")
            tensors[parameter.name] = StoredTensor(floats: parameter.value.data, shape: parameter.value.shape, as: dtype)
        }
        self.init(metadata: metadata, tensors: tensors)
    }

    /// Sets each parameter's value from the tensor of the same name (F32, F16 or BF16, or packed:
    /// ``packedBits(of:)``).
    ///
    /// All or nothing: every check passes before any parameter changes. Throws
    /// ``SafeTensorsError/missingTensors(_:)`` naming every absent key,
    /// ``SafeTensorsError/shapeMismatch(key:expected:found:)``, ``SafeTensorsError/wrongDType(key:expected:found:)``,
    /// and, unless `allowingUnusedTensors`, ``SafeTensorsError/unexpectedTensors(_:)`` naming every tensor no parameter took.
    public func load(into parameters: [Parameter], allowingUnusedTensors: Bool = false) throws(SafeTensorsError) {
        let missing = parameters.map(\.name).filter { !storesFloats($0) }
        if !missing.isEmpty { throw .missingTensors(missing.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }) }
        var values: [[Float]] = []
        values.reserveCapacity(parameters.count)
        for parameter in parameters {
            values.append(try floats(parameter.name, shape: parameter.value.shape))
        }
        if !allowingUnusedTensors {
            let names = Set(parameters.flatMap { storageKeys(of: $0.name) })
            let unused = tensors.keys.filter { !names.contains($0) }
            if !unused.isEmpty { throw .unexpectedTensors(unused.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }) }
        }
        for (parameter, value) in zip(parameters, values) {
            parameter.value.data = value
        }
    }
}
