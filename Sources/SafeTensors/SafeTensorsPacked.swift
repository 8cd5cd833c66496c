/// Packed float tensors (`Formats/model.md` §1.1): a float tensor `X` of known shape
/// `[d₀, …]` may be stored as `X.scale` (F32 `[d₀]`) and `X.packed<b>` (U8 `[⌈n·b/8⌉]`, n the
/// element count, 2 ≤ b ≤ 16): n b-bit two's complement codes q, least significant bit first,
/// element i's value the float32 product q_i · scale[i / (n / d₀)].
extension SafeTensorsFile {
    /// Bit widths a packed tensor may use.
    public static let packedBitRange = 2...16

    /// The name of `key`'s per-row scales in its packed form.
    public static func scaleKey(_ key: String) -> String { key + ".scale" }

    /// The name of `key`'s `bits`-bit codes in its packed form.
    public static func packedKey(_ key: String, bits: Int) -> String { key + ".packed\(bits)" }

    /// The bit width of the packed form of `key` this file holds, or nil when it holds none.
    /// Throws when it holds more than one, or a packed form beside `key` itself.
    public func packedBits(of key: String) throws(SafeTensorsError) -> Int? {
        let widths = Self.packedBitRange.filter { tensors[Self.packedKey(key, bits: $0)] != nil }
        guard let bits = widths.first else { return nil }
        guard widths.count == 1, tensors[key] == nil else {
            throw .malformedEntry(key: key, field: "storage", expected: "the tensor or one packed form of it",
                                  found: (tensors[key] == nil ? [] : [key]).joined() + widths.map {
                                      " " + Self.packedKey(key, bits: $0) }.joined())
        }
        return bits
    }

    /// True when the file holds `key` as a tensor or in a packed form.
    public func storesFloats(_ key: String) -> Bool { !storageKeys(of: key).isEmpty }

    /// The names under which the file holds `key`: `[key]`, or its scale and packed codes.
    public func storageKeys(of key: String) -> [String] {
        if tensors[key] != nil { return [key] }
        let packed = Self.packedBitRange.map { Self.packedKey(key, bits: $0) }.filter { tensors[$0] != nil }
        return packed.isEmpty ? [] : [Self.scaleKey(key)] + packed
    }

    /// The number of values the tensor `entry` named `key` can hold: its elements, or for packed
    /// codes the most codes its bytes hold, or none for a packed form's scales. For checks that a
    /// configuration does not declare more weights than a file stores.
    public static func valuesHeld(key: String, tensor: StoredTensor) -> Int {
        if key.hasSuffix(".scale") { return 0 }
        for bits in packedBitRange where key.hasSuffix(".packed\(bits)") && tensor.dtype == .u8 {
            return tensor.elementCount * 8 / bits
        }
        return tensor.elementCount
    }

    /// Unpacks the packed form of `key`, of `shape`, with `bits`-bit codes.
    func unpacked(_ key: String, shape: [Int], bits: Int) throws(SafeTensorsError) -> [Float] {
        guard let first = shape.first, first > 0 else {
            throw .malformedEntry(key: key, field: "shape", expected: "a packed tensor with a first dimension ≥ 1",
                                  found: "\(shape)")
        }
        let count = shape.reduce(1, *)
        let scaleKey = Self.scaleKey(key), codesKey = Self.packedKey(key, bits: bits)
        let scaleTensor = try tensor(scaleKey, shape: [first])
        guard scaleTensor.dtype == .f32 else { throw .wrongDType(key: scaleKey, expected: [.f32], found: scaleTensor.dtype) }
        let scales = try scaleTensor.floats(key: scaleKey)
        if let bad = scales.first(where: { !$0.isFinite || $0 < 0 }) {
            throw .malformedEntry(key: scaleKey, field: "values", expected: "finite scales ≥ 0", found: String(bad))
        }
        let byteCount = (count * bits + 7) / 8
        let codes = try tensor(codesKey, shape: [byteCount])
        guard codes.dtype == .u8 else { throw .wrongDType(key: codesKey, expected: [.u8], found: codes.dtype) }
        let bytes = codes.bytes
        let rowLength = count / first
        let limit = (Int32(1) << (bits - 1)) - 1
        var values = [Float](repeating: 0, count: count)
        var accumulator: UInt64 = 0, held = 0, next = 0
        let mask = (UInt64(1) << bits) - 1
        for i in 0..<count {
            while held < bits {
                accumulator |= UInt64(bytes[next]) << held
                next += 1
                held += 8
            }
            let raw = Int32(truncatingIfNeeded: accumulator & mask)
            accumulator >>= bits
            held -= bits
            let code = raw >= (Int32(1) << (bits - 1)) ? raw - (Int32(1) << bits) : raw
            guard code >= -limit else {
                throw .malformedEntry(key: codesKey, field: "values", expected: "codes in -\(limit)...\(limit)",
                                      found: "\(code) at element \(i)")
            }
            values[i] = Float(code) * scales[i / rowLength]
        }
        guard accumulator == 0 else {
            throw .malformedEntry(key: codesKey, field: "padding", expected: "zero bits after the last code",
                                  found: "non-zero bits")
        }
        return values
    }
}
