import FileIO

/// Why a safetensors file could not be read, or does not fit what the caller expected.
///
/// Cases about one tensor carry its key, and where it applies the expected and the found
/// value, so that a message can say exactly which entry of which file is wrong.
public enum SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    // The container.
    /// The file is shorter than the 8-byte header length.
    case fileTooShort(byteCount: Int)
    /// The header length is larger than the limit (checked before anything is allocated).
    case headerTooLarge(declared: UInt64, limit: Int)
    /// The header length runs past the end of the file.
    case headerExceedsFile(declared: UInt64, available: Int)
    /// The header is not valid UTF-8 JSON. `offset` counts bytes from the start of the JSON text.
    case invalidJSON(offset: Int, reason: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(found: String)
    /// An object in the header names the same key twice.
    case duplicateKey(String)
    /// `__metadata__` is not an object.
    case metadataNotObject(found: String)
    /// A metadata value is not a string.
    case metadataValueNotString(key: String, found: String)

    // One tensor entry.
    /// An entry is not an object, misses a field, has an unknown field, or a field has the wrong form.
    case malformedEntry(key: String, field: String, expected: String, found: String)
    /// The entry's dtype is not one vqcodec reads.
    case unsupportedDType(key: String, found: String)
    /// A dimension is negative, not an integer, too large, or there are too many dimensions.
    case invalidShape(key: String, found: String)
    /// The number of bytes the shape needs does not fit in a machine integer.
    case shapeOverflow(key: String, shape: [Int])
    /// `data_offsets` span a different number of bytes than dtype and shape need.
    case sizeMismatch(key: String, dtype: DType, shape: [Int], expectedBytes: Int, foundBytes: Int)
    /// `data_offsets` lie outside the data section.
    case offsetsOutOfBounds(key: String, begin: Int, end: Int, dataBytes: Int)
    /// Two tensors share bytes of the data section.
    case overlappingTensors(key: String, other: String)

    // What the caller expected.
    /// A tensor has another dtype than the accessor reads. `key` is nil when the tensor was not read from a file by name.
    case wrongDType(key: String?, expected: [DType], found: DType)
    /// Tensors the caller needs are absent (sorted by key).
    case missingTensors([String])
    /// A tensor has another shape than the parameter it is loaded into.
    case shapeMismatch(key: String, expected: [Int], found: [Int])
    /// Tensors the caller did not ask for (sorted by key), when loading strictly.
    case unexpectedTensors([String])
    /// A metadata entry the caller needs is absent or has another value.
    case metadataMismatch(key: String, expected: String, found: String?)

    // Files.
    /// Reading or writing the file failed.
    case io(FileIOError)
    /// The file at `path` is malformed or does not fit; `error` says how.
    indirect case file(path: String, error: SafeTensorsError)

    public var description: String {
        switch self {
        case .fileTooShort(let count):
            return "not a safetensors file: it has \(count) bytes, fewer than the 8-byte header length"
        case .headerTooLarge(let declared, let limit):
            return "safetensors header claims \(declared) bytes, more than the limit of \(limit); the file is damaged or not a safetensors file"
        case .headerExceedsFile(let declared, let available):
            return "safetensors header claims \(declared) bytes but only \(available) follow the length; the file is truncated or not a safetensors file"
        case .invalidJSON(let offset, let reason):
            return "safetensors header is not valid JSON at byte \(offset) of the header: \(reason)"
        case .headerNotObject(let found):
            return "safetensors header must be a JSON object, found \(found)"
        case .duplicateKey(let key):
            return "safetensors header names \"\(key)\" twice"
        case .metadataNotObject(let found):
            return "safetensors \"__metadata__\" must be an object of strings, found \(found)"
        case .metadataValueNotString(let key, let found):
            return "safetensors metadata \"\(key)\" must be a string, found \(found)"
        case .malformedEntry(let key, let field, let expected, let found):
            return "tensor \"\(key)\": \(field) should be \(expected), found \(found)"
        case .unsupportedDType(let key, let found):
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            return "tensor \"\(key)\": dtype \(found) is not supported (vqcodec reads \(known))"
        case .invalidShape(let key, let found):
            return "tensor \"\(key)\": shape should be a list of non-negative integers, found \(found)"
        case .shapeOverflow(let key, let shape):
            return "tensor \"\(key)\": shape \(shape) is too large to address"
        case .sizeMismatch(let key, let dtype, let shape, let expected, let found):
            return "tensor \"\(key)\": \(dtype.rawValue) \(shape) needs \(expected) bytes but data_offsets span \(found)"
        case .offsetsOutOfBounds(let key, let begin, let end, let dataBytes):
            return "tensor \"\(key)\": data_offsets [\(begin), \(end)] run past the \(dataBytes)-byte data section; the file may be truncated"
        case .overlappingTensors(let key, let other):
            return "tensors \"\(other)\" and \"\(key)\" share bytes of the data section"
        case .wrongDType(let key, let expected, let found):
            let wanted = expected.map(\.rawValue).joined(separator: " or ")
            let name = key.map { "tensor \"\($0)\"" } ?? "tensor"
            return "\(name) has dtype \(found.rawValue), expected \(wanted)"
        case .missingTensors(let keys):
            return "missing tensors: \(keys.map { "\"\($0)\"" }.joined(separator: ", ")); is this the right model file?"
        case .shapeMismatch(let key, let expected, let found):
            return "tensor \"\(key)\": expected shape \(expected), found \(found); is this the right model file?"
        case .unexpectedTensors(let keys):
            return "unexpected tensors: \(keys.map { "\"\($0)\"" }.joined(separator: ", ")); is this the right model file?"
        case .metadataMismatch(let key, let expected, let found):
            return "metadata \"\(key)\" should be \(expected), found \(found.map { "\"\($0)\"" } ?? "nothing")"
        case .io(let error):
            return error.description
        case .file(let path, let error):
            return "\(path): \(error.description)"
        }
    }
}
