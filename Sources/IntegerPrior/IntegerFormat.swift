import Foundation

/// Constants of the integer prior's arithmetic, format 1 (`Formats/prior.md`). Changing any of
/// them changes the file format: bump `version`.
package enum IntegerFormat {
    /// The JSON header stored under `key` (a prior's configuration with its `format`), after
    /// checking that it is there, parses as `Header`, and has this format `version`.
    package static func header<Header: Decodable & VersionedHeader>(
        _ metadata: [String: String], key: String, as _: Header.Type
    ) throws(PriorError) -> Header {
        guard let text = metadata[key] else { throw .missingMetadata(key: key) }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(text.utf8))
        } catch {
            throw .malformedMetadata(key: key, reason: String(describing: error))
        }
        guard header.format == version else { throw .unsupportedFormat(found: header.format, supported: version) }
        return header
    }

    /// Version written in `prior_int.config`.
    package static let version = 1
    /// Every activation that feeds a linear layer is an integer in −A…A (A ↔ 1.0 for gates).
    package static let activationLimit: Int32 = 8192
    /// Gate: `(t · s + 2^(gateShift−1)) >> gateShift`, t and s in units of 2^−14, result in 2^−13.
    package static let gateShift: Int32 = 15
    /// tanh and sigmoid tables hold values in units of 2^−14: |t| ≤ 2^14, 0 ≤ s ≤ 2^14.
    package static let tableOne: Int32 = 1 << 14
    /// Logits are clamped to ±2^24 units before the softmax.
    package static let logitLimit: Int64 = 1 << 24
    /// Largest accumulator magnitude: no sum of a valid model can leave the Int32 range.
    package static let accumulatorLimit: Int64 = Int64(Int32.max)
    /// Rescale multipliers lie in 0 ..< 2^31, shifts in 1 … 62, so `acc · M + 2^(R−1)` fits in Int64.
    package static let multiplierLimit: Int64 = 1 << 31
    package static let shiftRange: ClosedRange<Int64> = 1...62
    /// Largest exp-table entry: K · 2^31 stays far below 2^64 (the frequency table's weight sum).
    package static let expEntryLimit: Int64 = Int64(Int32.max)

    // Choices made by `freeze()` only (the decoder reads them from the tables, not from here).

    /// Pre-activations index the tanh/sigmoid tables in steps of 2^−8, clamped to ±8.
    package static let lookupFractionBits = 8
    package static let lookupRadius = 8.0
    /// Logits in units of 1/32 nat.
    package static let logitFractionBits = 5
    /// exp-table entries in units of 2^−20.
    package static let expFractionBits = 20
}

/// A stored configuration that names the integer format it was written in.
package protocol VersionedHeader {
    var format: Int { get }
}
