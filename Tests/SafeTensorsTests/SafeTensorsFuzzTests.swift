import SeededRandom
import XCTest
@testable import SafeTensors

final class SafeTensorsFuzzTests: XCTestCase {
    /// Seeded random damage to a valid file: the reader either throws a SafeTensorsError or returns a
    /// file whose tensors keep their invariant and which writes and reads back to itself. A crash,
    /// a trap or an allocation the size of a forged header field would end the test process.
    func testRandomMutationsNeverCrash() throws {
        let original = SafeTensorsFile(metadata: ["name": "fuzz", "steps": "12"], tensors: [
            "enc.conv1.weight": StoredTensor(floats: (0..<24).map { Float($0) / 3 }, shape: [2, 3, 2, 2]),
            "enc.conv1.bias": StoredTensor(floats: [1, -1], shape: [2], as: .f16),
            "prior.table": StoredTensor(int32s: [1, 2, 3, 4, 5, 6], shape: [2, 3]),
            "prior.scale": StoredTensor(int16s: [7, -7], shape: [2]),
            "codes": StoredTensor(int8s: [1, -1, 0], shape: [3]),
            "mask": StoredTensor(uint8s: [255], shape: []),
            "empty": StoredTensor(floats: [], shape: [0, 2], as: .bf16),
        ]).serialized()
        let headerEnd = 8 + Int(original[0]) + Int(original[1]) << 8
        let significant = Array("{}[]\",:-0123456789.eE \\u".utf8)
        var rng = SplitMix64(seed: 2024)
        var accepted = 0, rejected = 0
        for _ in 0..<6000 {
            var bytes = original
            for _ in 0...rng.below(3) {
                if bytes.count < 9 { break }
                let headerIndex = 8 + rng.below(min(headerEnd, bytes.count) - 8) // a byte of the (original) header still present
                switch rng.below(7) {
                case 0: // flip bits anywhere
                    bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8))
                case 1: // a JSON-significant byte in the header
                    bytes[headerIndex] = significant[rng.below(significant.count)]
                case 2: // a random byte in the header
                    bytes[headerIndex] = UInt8(truncatingIfNeeded: rng.next())
                case 3: // truncate
                    bytes.removeLast(rng.below(bytes.count))
                case 4: // forge the header length: near the truth, or anything
                    let length = rng.below(2) == 0 ? UInt64(headerEnd - 8 + rng.below(33) - 16) : rng.next() >> rng.below(64)
                    bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: length.littleEndian, Array.init))
                case 5: // insert or delete a header byte, shifting the rest
                    if rng.below(2) == 0 { bytes.remove(at: headerIndex) } else { bytes.insert(significant[rng.below(significant.count)], at: headerIndex) }
                default: // a digit in the header becomes a long number
                    let digits = (8..<min(headerEnd, bytes.count)).filter { (48...57).contains(bytes[$0]) }
                    if let at = digits.isEmpty ? nil : digits[rng.below(digits.count)] {
                        bytes.replaceSubrange(at...at, with: Array(String(rng.next()).utf8))
                    }
                }
            }
            do {
                let file = try SafeTensorsFile(bytes: bytes)
                accepted += 1
                for (key, tensor) in file.tensors {
                    XCTAssertEqual(tensor.bytes.count, tensor.shape.reduce(1, *) * tensor.dtype.byteCount, key)
                }
                XCTAssertEqual(try SafeTensorsFile(bytes: file.serialized()), file)
            } catch {
                rejected += 1
                XCTAssertFalse(error.description.isEmpty)
            }
        }
        // Both paths ran: some damage is harmless (a flipped data byte), most is caught.
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertGreaterThan(rejected, 3000)
    }
}
