import Engine
import SafeTensors

/// The 64-bit identity of a model's coding-relevant content, stored in every `.vqc` header so a
/// file decoded with another model fails with a clear message instead of decoding garbage.
///
/// FNV-1a (64-bit) over, for each relevant tensor in sorted key order: the key's UTF-8 bytes, a 0
/// byte, the dtype name, the shape as little-endian UInt64s, and the raw little-endian data; then
/// the relevant metadata entries (key, 0, value, 0) in sorted key order. Relevant: everything the
/// decoder reads (the integer prior, the codebook, the synthesis transform) and their
/// configurations; for a progressive model, every stage's codebook and integer prior and the
/// `rvq.` configurations. (One-stage models have none of the progressive keys, so their checksums
/// are what they were.) Not a cryptographic hash: it detects mistakes, not forgeries.
enum ModelChecksum {
    static let tensorPrefixes = ["prior_int.", "quantizer.codebook", "quantizer.stage", "synthesis."]
    static let metadataKeys = ["prior_int.config", "rvq.config", "rvq.prior_int.config", "vqvae.config"]

    static func compute(_ file: SafeTensorsFile) -> UInt64 {
        var hash = FNV1a()
        for key in file.tensors.keys.sorted() where tensorPrefixes.contains(where: { key.hasPrefix($0) }) {
            let tensor = file.tensors[key]!
            hash.add(Array(key.utf8)); hash.add([0])
            hash.add(Array(tensor.dtype.rawValue.utf8))
            for d in tensor.shape { hash.add(UInt64(d)) }
            hash.add(tensor.bytes)
        }
        for key in metadataKeys.sorted() {
            guard let value = file.metadata[key] else { continue }
            hash.add(Array(key.utf8)); hash.add([0])
            hash.add(Array(value.utf8)); hash.add([0])
        }
        return hash.value
    }
}

struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: [UInt8]) {
        for b in bytes {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01B3
        }
    }

    mutating func add(_ number: UInt64) {
        var n = number
        var bytes = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: n); n >>= 8 }
        add(bytes)
    }
}
