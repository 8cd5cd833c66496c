import SafeTensors

/// Why a prior could not be built or read from a model file. Programmer mistakes (symbols
/// outside the alphabet, shapes that do not match the configuration) are preconditions instead.
public enum PriorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A configuration field is out of range.
    case invalidConfiguration(field: String, value: Int, expected: String)
    /// The model file has no metadata entry `key`.
    case missingMetadata(key: String)
    /// The metadata entry `key` is not the JSON it should be.
    case malformedMetadata(key: String, reason: String)
    /// The integer prior's format version is not one this build reads.
    case unsupportedFormat(found: Int, supported: Int)
    /// The configuration under `key` describes a larger prior than the file's tensors hold (a
    /// damaged or forged file): refused before the prior is built, so it cannot make loading
    /// allocate for weights that are not there. `needed` is ``PriorConfiguration/minimumStoredValues``.
    case configurationExceedsWeights(key: String, needed: Int, found: Int)
    /// A tensor is missing, has the wrong dtype or shape (the safetensors layer says which).
    case tensor(SafeTensorsError)
    /// A tensor of the integer prior holds a value its format forbids.
    case invalidTensorValue(key: String, index: Int, found: Int64, expected: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let field, let value, let expected):
            return "prior configuration: \(field) is \(value), expected \(expected)"
        case .missingMetadata(let key):
            return "the model file has no \"\(key)\" metadata; it holds no prior (train one with `vqcodec train prior`)"
        case .malformedMetadata(let key, let reason):
            return "the model file's \"\(key)\" metadata is not valid: \(reason)"
        case .unsupportedFormat(let found, let supported):
            return "the model's integer prior has format \(found), this vqcodec reads format \(supported); use a matching vqcodec or re-freeze the prior"
        case .configurationExceedsWeights(let key, let needed, let found):
            return "metadata \"\(key)\" describes a prior of at least \(needed) weights, but the file holds \(found); "
                + "the model file is damaged"
        case .tensor(let error):
            return "prior: \(error.description)"
        case .invalidTensorValue(let key, let index, let found, let expected):
            return "tensor \"\(key)\": element \(index) is \(found), expected \(expected); the model file is damaged"
        }
    }
}
