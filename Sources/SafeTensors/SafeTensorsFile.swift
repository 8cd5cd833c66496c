import FileIO

/// Bounds on what a safetensors reader accepts, checked before allocating anything they bound.
public struct SafeTensorsLimits: Sendable, Equatable {
    /// Largest header (JSON) accepted, in bytes.
    public var maxHeaderBytes: Int
    /// Most dimensions a tensor may have.
    public var maxRank: Int
    /// Largest file ``SafeTensorsFile/init(contentsOf:limits:)`` reads, in bytes.
    public var maxFileBytes: Int

    public init(maxHeaderBytes: Int = 100_000_000, maxRank: Int = 16, maxFileBytes: Int = 1 << 32) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxRank = maxRank
        self.maxFileBytes = maxFileBytes
    }

    public static let `default` = SafeTensorsLimits()
}

/// A safetensors file (Hugging Face's format; `Formats/model.md` gives the bytes): string
/// metadata and named tensors.
///
/// Reading treats the bytes as untrusted: ``init(bytes:limits:)`` checks the header length, the
/// JSON, every entry's dtype, shape and offsets, and that no two tensors overlap before it copies
/// any tensor data. It is lenient in one way the reference reader is not: bytes of the data
/// section that no tensor covers (holes, trailing bytes) are allowed and ignored.
///
/// Writing is deterministic: ``serialized()`` gives the same bytes for the same contents, laid
/// out as the reference writer lays them out (byte-identical to Python's `safetensors.serialize`).
public struct SafeTensorsFile: Sendable, Equatable {
    /// The header's `__metadata__` object. Omitted from the file when empty.
    public var metadata: [String: String]
    /// Tensors by key. The key `__metadata__` is reserved.
    public var tensors: [String: StoredTensor]

    public init(metadata: [String: String] = [:], tensors: [String: StoredTensor] = [:]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// Parses and validates a whole file held in memory.
    public init(bytes: [UInt8], limits: SafeTensorsLimits = .default) throws(SafeTensorsError) {
        guard bytes.count >= 8 else { throw .fileTooShort(byteCount: bytes.count) }
        var declared: UInt64 = 0
        for i in (0..<8).reversed() { declared = declared << 8 | UInt64(bytes[i]) }
        guard declared <= UInt64(limits.maxHeaderBytes) else { throw .headerTooLarge(declared: declared, limit: limits.maxHeaderBytes) }
        guard declared <= UInt64(bytes.count - 8) else { throw .headerExceedsFile(declared: declared, available: bytes.count - 8) }
        let headerEnd = 8 + Int(declared)
        let dataBytes = bytes.count - headerEnd

        let root = try JSONParser.parse(bytes, range: 8..<headerEnd)
        guard case .object(let members) = root else { throw .headerNotObject(found: root.summary) }

        var metadata: [String: String] = [:]
        var entries: [(key: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (key, value) in members {
            if key == "__metadata__" {
                metadata = try Self.parseMetadata(value)
            } else {
                let entry = try Self.parseEntry(key: key, value: value, dataBytes: dataBytes, limits: limits)
                entries.append((key, entry.dtype, entry.shape, entry.begin, entry.end))
            }
        }

        // Overlap: sort the non-empty ranges by start (key breaks ties, so the error is deterministic).
        let ranges = entries.filter { $0.begin < $0.end }.sorted {
            $0.begin != $1.begin ? $0.begin < $1.begin : $0.key.utf8.lexicographicallyPrecedes($1.key.utf8)
        }
        var furthest: (end: Int, key: String)? = nil
        for range in ranges {
            if let previous = furthest, range.begin < previous.end {
                throw .overlappingTensors(key: range.key, other: previous.key)
            }
            if furthest == nil || range.end > furthest!.end { furthest = (range.end, range.key) }
        }

        // Everything is checked: now copy the data.
        var tensors: [String: StoredTensor] = [:]
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            let slice = Array(bytes[(headerEnd + entry.begin)..<(headerEnd + entry.end)])
            tensors[entry.key] = StoredTensor(dtype: entry.dtype, shape: entry.shape, bytes: slice)
        }
        self.init(metadata: metadata, tensors: tensors)
    }

    /// Reads and validates the file at `path`. Errors about its contents come wrapped in
    /// ``SafeTensorsError/file(path:error:)``.
    public init(contentsOf path: String, limits: SafeTensorsLimits = .default) throws(SafeTensorsError) {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path, maxBytes: limits.maxFileBytes) } catch { throw .io(error) }
        do { try self.init(bytes: bytes, limits: limits) } catch { throw .file(path: path, error: error) }
    }

    /// Writes ``serialized()`` to `path` atomically: a reader sees the old file or the new one, never a mix.
    public func write(to path: String) throws(SafeTensorsError) {
        do { try AtomicFile.write(serialized(), to: path) } catch { throw .io(error) }
    }

    /// The file's bytes.
    ///
    /// Layout: tensors sorted by dtype (F32, I32, BF16, F16, I16, I8, U8), then by the UTF-8 bytes
    /// of their keys; header entries in the same order after `__metadata__` (keys sorted);
    /// compact JSON; the header padded with spaces so that the data starts at a multiple of 8.
    /// Each tensor then starts at a multiple of its element size.
    public func serialized() -> [UInt8] {
        precondition(tensors["__metadata__"] == nil, "\"__metadata__\" is reserved and cannot name a tensor")
        let order = tensors.sorted { a, b in
            a.value.dtype.layoutRank != b.value.dtype.layoutRank
                ? a.value.dtype.layoutRank < b.value.dtype.layoutRank
                : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() { if !first { header.append(UInt8(ascii: ",")) }; first = false }
        if !metadata.isEmpty {
            separator()
            appendJSONString("__metadata__", to: &header)
            header.append(contentsOf: Array(":{".utf8))
            for (i, (key, value)) in metadata.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                appendJSONString(value, to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for (key, tensor) in order {
            separator()
            appendJSONString(key, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[".utf8))
            header.append(contentsOf: Array(tensor.shape.map(String.init).joined(separator: ",").utf8))
            header.append(contentsOf: Array("],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}".utf8))
            offset += tensor.bytes.count
        }
        header.append(UInt8(ascii: "}"))
        while (8 + header.count) % 8 != 0 { header.append(UInt8(ascii: " ")) }

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        appendLittleEndian(UInt64(header.count), to: &out)
        out.append(contentsOf: header)
        for (_, tensor) in order { out.append(contentsOf: tensor.bytes) }
        return out
    }

    private static func parseMetadata(_ value: JSONValue) throws(SafeTensorsError) -> [String: String] {
        guard case .object(let members) = value else { throw .metadataNotObject(found: value.summary) }
        var metadata: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else { throw .metadataValueNotString(key: key, found: value.summary) }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(key: String, value: JSONValue, dataBytes: Int, limits: SafeTensorsLimits)
        throws(SafeTensorsError) -> (dtype: DType, shape: [Int], begin: Int, end: Int) {
        guard case .object(let fields) = value else {
            throw .malformedEntry(key: key, field: "the entry", expected: "an object with dtype, shape and data_offsets", found: value.summary)
        }
        var dtypeValue: JSONValue?, shapeValue: JSONValue?, offsetsValue: JSONValue?
        for (field, value) in fields {
            switch field {
            case "dtype": dtypeValue = value
            case "shape": shapeValue = value
            case "data_offsets": offsetsValue = value
            default: throw .malformedEntry(key: key, field: "field \"\(field)\"", expected: "absent (only dtype, shape and data_offsets are allowed)", found: value.summary)
            }
        }

        guard let dtypeValue else { throw .malformedEntry(key: key, field: "dtype", expected: "a string", found: "nothing") }
        guard case .string(let dtypeName) = dtypeValue else {
            throw .malformedEntry(key: key, field: "dtype", expected: "a string", found: dtypeValue.summary)
        }
        guard let dtype = DType(rawValue: dtypeName) else { throw .unsupportedDType(key: key, found: dtypeName) }

        guard let shapeValue else { throw .malformedEntry(key: key, field: "shape", expected: "an array", found: "nothing") }
        guard case .array(let dimensions) = shapeValue else { throw .invalidShape(key: key, found: shapeValue.summary) }
        guard dimensions.count <= limits.maxRank else { throw .invalidShape(key: key, found: "\(dimensions.count) dimensions (the limit is \(limits.maxRank))") }
        var shape: [Int] = []
        for dimension in dimensions {
            guard let n = nonNegativeInteger(dimension) else { throw .invalidShape(key: key, found: dimension.summary) }
            shape.append(n)
        }
        var byteCount = dtype.byteCount
        for n in shape {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: n)
            if overflow { throw .shapeOverflow(key: key, shape: shape) }
            byteCount = product
        }

        let offsetsForm = "two integers [begin, end] with 0 ≤ begin ≤ end < 2^63"
        guard let offsetsValue else { throw .malformedEntry(key: key, field: "data_offsets", expected: offsetsForm, found: "nothing") }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
              let begin = nonNegativeInteger(offsets[0]), let end = nonNegativeInteger(offsets[1]), begin <= end else {
            throw .malformedEntry(key: key, field: "data_offsets", expected: offsetsForm, found: describe(offsetsValue))
        }
        guard end - begin == byteCount else {
            throw .sizeMismatch(key: key, dtype: dtype, shape: shape, expectedBytes: byteCount, foundBytes: end - begin)
        }
        guard end <= dataBytes else { throw .offsetsOutOfBounds(key: key, begin: begin, end: end, dataBytes: dataBytes) }
        return (dtype, shape, begin, end)
    }
}

/// The value of a JSON number written as a plain non-negative integer that fits in an Int
/// (no sign, fraction or exponent: "3.0" and "3e0" are not integers here).
private func nonNegativeInteger(_ value: JSONValue) -> Int? {
    guard case .number(let text) = value else { return nil }
    var result = 0
    for byte in text.utf8 {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        let (times10, o1) = result.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
        if o1 || o2 { return nil }
        result = sum
    }
    return result
}

/// A JSON value as text for messages: arrays of scalars in full, others summarised.
private func describe(_ value: JSONValue) -> String {
    guard case .array(let elements) = value else { return value.summary }
    let parts = elements.prefix(8).map { element -> String in
        switch element {
        case .number(let text): return text
        case .string(let s): return "\"\(s)\""
        default: return element.summary
        }
    }
    return "[" + parts.joined(separator: ", ") + (elements.count > 8 ? ", …" : "") + "]"
}
