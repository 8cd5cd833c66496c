// The one file of Container that calls zlib: the container computes its CRCs through `crc32(_:)` or
// `CRC32`. (The PNG writer, in Images, which comes before Container, calls zlib in its own file.)
internal import CZlib

/// CRC-32 as defined by zlib, PNG and Ethernet (ISO-HDLC: reflected polynomial 0xEDB88320,
/// initial value and final XOR 0xFFFFFFFF). `crc32(Array("123456789".utf8)) == 0xCBF43926`.
///
/// Wraps zlib's `crc32(uLong, const Bytef *, uInt)`.
public func crc32<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
}

/// A running CRC-32 (same definition as ``crc32(_:)``), for data that arrives in pieces:
/// updating with `a` then `b` gives the CRC of `a + b`.
public struct CRC32: Equatable, Sendable {
    /// The CRC of the bytes seen so far (0 for none).
    public private(set) var value: UInt32 = 0

    public init() {}

    /// Extends the checksum with `bytes`. Wraps zlib's `crc32`, in chunks that fit its 32-bit length.
    public mutating func update<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(buffer: UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { update(buffer: $0) }
        }
    }

    private mutating func update(buffer: UnsafeRawBufferPointer) {
        guard var base = buffer.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return }
        var remaining = buffer.count
        var crc = uLong(value)
        while remaining > 0 {
            let chunk = min(remaining, 1 << 30)
            crc = CZlib.crc32(crc, base, uInt(chunk))
            base += chunk
            remaining -= chunk
        }
        value = UInt32(truncatingIfNeeded: crc)
    }
}
