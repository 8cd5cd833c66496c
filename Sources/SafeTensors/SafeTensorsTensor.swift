/// Element types of a safetensors tensor that vqcodec reads and writes, named as in the file.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case f32 = "F32"
    case i32 = "I32"
    case bf16 = "BF16"
    case f16 = "F16"
    case i16 = "I16"
    case i8 = "I8"
    case u8 = "U8"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .f32, .i32: return 4
        case .bf16, .f16, .i16: return 2
        case .i8, .u8: return 1
        }
    }

    /// True for F32, F16 and BF16, the types ``StoredTensor/floats()`` reads.
    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Position in the data section: the reference writer (Hugging Face's `safetensors`) sorts
    /// tensors by its dtype enum in descending order, then by key; so wider types come first and
    /// every tensor starts at a multiple of its element size. Writing in the same order makes
    /// vqcodec's files byte-identical to the reference writer's for the same tensors.
    var layoutRank: Int {
        switch self {
        case .f32: return 0
        case .i32: return 1
        case .bf16: return 2
        case .f16: return 3
        case .i16: return 4
        case .i8: return 5
        case .u8: return 6
        }
    }
}

/// One tensor as stored in a safetensors file: a dtype, a shape and the little-endian bytes of
/// its elements in row-major order.
///
/// Invariant: `bytes.count == shape.reduce(1, *) * dtype.byteCount`, every dimension ≥ 0.
/// A shape of `[]` is a scalar (one element).
public struct StoredTensor: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    /// Little-endian element bytes, row-major.
    public let bytes: [UInt8]

    /// Number of elements: the product of `shape`.
    public var elementCount: Int { bytes.count / dtype.byteCount }

    /// Wraps raw little-endian bytes. The byte count must match dtype and shape.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) * dtype.byteCount == bytes.count,
                     "\(bytes.count) bytes do not hold a \(dtype.rawValue) tensor of shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Stores `floats` as F32, F16 or BF16. F16 and BF16 round to nearest, ties to even;
    /// F16 turns magnitudes of 65520 and above into infinity.
    public init(floats: [Float], shape: [Int], as dtype: DType = .f32) {
        precondition(dtype.isFloatingPoint, "\(dtype.rawValue) does not hold floats")
        var bytes = [UInt8]()
        bytes.reserveCapacity(floats.count * dtype.byteCount)
        switch dtype {
        case .f32: for value in floats { appendLittleEndian(value.bitPattern, to: &bytes) }
        case .f16: for value in floats { appendLittleEndian(halfBits(from: value), to: &bytes) }
        default: for value in floats { appendLittleEndian(bfloat16Bits(from: value), to: &bytes) }
        }
        self.init(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// Stores `int32s` as I32.
    public init(int32s: [Int32], shape: [Int]) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(int32s.count * 4)
        for value in int32s { appendLittleEndian(UInt32(bitPattern: value), to: &bytes) }
        self.init(dtype: .i32, shape: shape, bytes: bytes)
    }

    /// Stores `int16s` as I16.
    public init(int16s: [Int16], shape: [Int]) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(int16s.count * 2)
        for value in int16s { appendLittleEndian(UInt16(bitPattern: value), to: &bytes) }
        self.init(dtype: .i16, shape: shape, bytes: bytes)
    }

    /// Stores `int8s` as I8.
    public init(int8s: [Int8], shape: [Int]) {
        self.init(dtype: .i8, shape: shape, bytes: int8s.map { UInt8(bitPattern: $0) })
    }

    /// Stores `uint8s` as U8.
    public init(uint8s: [UInt8], shape: [Int]) {
        self.init(dtype: .u8, shape: shape, bytes: uint8s)
    }

    /// The elements as Floats, from F32, F16 or BF16 (every such value is exactly a Float).
    public func floats() throws(SafeTensorsError) -> [Float] { try floats(key: nil) }

    /// The elements as Int32s, from I32, I16, I8 or U8 (widening is exact).
    public func int32s() throws(SafeTensorsError) -> [Int32] { try int32s(key: nil) }

    /// The elements as Int16s, from I16, I8 or U8 (widening is exact).
    public func int16s() throws(SafeTensorsError) -> [Int16] { try int16s(key: nil) }

    /// The elements as Int8s, from I8 only.
    public func int8s() throws(SafeTensorsError) -> [Int8] {
        guard dtype == .i8 else { throw .wrongDType(key: nil, expected: [.i8], found: dtype) }
        return bytes.map { Int8(bitPattern: $0) }
    }

    /// The elements as UInt8s, from U8 only.
    public func uint8s() throws(SafeTensorsError) -> [UInt8] {
        guard dtype == .u8 else { throw .wrongDType(key: nil, expected: [.u8], found: dtype) }
        return bytes
    }

    /// The elements as Floats; errors name `key` (the tensor's name in its file).
    public func floats(key: String?) throws(SafeTensorsError) -> [Float] {
        switch dtype {
        case .f32: return bytes.withUnsafeBytes { raw in
            (0..<elementCount).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        case .f16: return bytes.withUnsafeBytes { raw in
            (0..<elementCount).map { float(fromHalfBits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        }
        case .bf16: return bytes.withUnsafeBytes { raw in
            (0..<elementCount).map { float(fromBFloat16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        }
        default: throw .wrongDType(key: key, expected: [.f32, .f16, .bf16], found: dtype)
        }
    }

    /// The elements as Int32s, from I32, I16, I8 or U8; errors name `key`.
    public func int32s(key: String?) throws(SafeTensorsError) -> [Int32] {
        switch dtype {
        case .i32: return bytes.withUnsafeBytes { raw in
            (0..<elementCount).map { Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        case .i16, .i8, .u8: return try int16s(key: key).map { Int32($0) }
        default: throw .wrongDType(key: key, expected: [.i32, .i16, .i8, .u8], found: dtype)
        }
    }

    /// The elements as Int16s, from I16, I8 or U8; errors name `key`.
    public func int16s(key: String?) throws(SafeTensorsError) -> [Int16] {
        switch dtype {
        case .i16: return bytes.withUnsafeBytes { raw in
            (0..<elementCount).map { Int16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        }
        case .i8: return bytes.map { Int16(Int8(bitPattern: $0)) }
        case .u8: return bytes.map { Int16($0) }
        default: throw .wrongDType(key: key, expected: [.i16, .i8, .u8], found: dtype)
        }
    }
}

@inline(__always)
func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    var v = value.littleEndian
    withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
}
