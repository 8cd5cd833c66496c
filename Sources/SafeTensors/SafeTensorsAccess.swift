/// Typed access to a file's tensors by name, for loaders: errors name the key.
extension SafeTensorsFile {
    /// The tensor named `key` as Floats, checking its shape when `shape` is given. With `shape`
    /// given, a tensor stored packed (``packedBits(of:)``) is unpacked.
    public func floats(_ key: String, shape: [Int]? = nil) throws(SafeTensorsError) -> [Float] {
        if let shape, let bits = try packedBits(of: key) { return try unpacked(key, shape: shape, bits: bits) }
        return try tensor(key, shape: shape).floats(key: key)
    }

    /// The tensor named `key` as Int32s (from I32, I16, I8 or U8), checking its shape when `shape` is given.
    public func int32s(_ key: String, shape: [Int]? = nil) throws(SafeTensorsError) -> [Int32] {
        try tensor(key, shape: shape).int32s(key: key)
    }

    /// The tensor named `key`, checking its shape when `shape` is given.
    public func tensor(_ key: String, shape: [Int]? = nil) throws(SafeTensorsError) -> StoredTensor {
        guard let tensor = tensors[key] else { throw .missingTensors([key]) }
        if let shape, tensor.shape != shape { throw .shapeMismatch(key: key, expected: shape, found: tensor.shape) }
        return tensor
    }
}
