import Foundation
import SafeTensors
import XCTest

/// Packed float tensors (`Formats/model.md` §1.1): `X.scale` F32 `[d₀]` and `X.packed<b>` U8,
/// b-bit two's complement codes, least significant bit first.
final class PackedTensorTests: XCTestCase {
    /// Packs `codes` (b bits each, LSB first) the way the spec says, for building test files.
    static func packBits(_ codes: [Int], bits: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (codes.count * bits + 7) / 8)
        for (i, code) in codes.enumerated() {
            let unsigned = code & ((1 << bits) - 1)
            for j in 0..<bits where unsigned >> j & 1 == 1 {
                let bit = i * bits + j
                bytes[bit / 8] |= UInt8(1 << (bit % 8))
            }
        }
        return bytes
    }

    static func file(_ key: String, codes: [Int], bits: Int, scales: [Float],
                     extra: [String: StoredTensor] = [:]) -> SafeTensorsFile {
        var tensors = extra
        tensors[SafeTensorsFile.scaleKey(key)] = StoredTensor(floats: scales, shape: [scales.count], as: .f32)
        let bytes = packBits(codes, bits: bits)
        tensors[SafeTensorsFile.packedKey(key, bits: bits)] = StoredTensor(uint8s: bytes, shape: [bytes.count])
        return SafeTensorsFile(metadata: [:], tensors: tensors)
    }

    func testCodesTimesTheirRowsScaleAtEveryWidth() throws {
        for bits in [2, 3, 7, 8, 10, 12, 16] {
            let limit = (1 << (bits - 1)) - 1
            // Two rows of three, each with the extremes and zero.
            let codes = [limit, -limit, 0, 1, -1, limit / 2]
            let scales: [Float] = [0.5, 0.003]
            let file = Self.file("w", codes: codes, bits: bits, scales: scales)
            XCTAssertEqual(try file.packedBits(of: "w"), bits)
            XCTAssertTrue(file.storesFloats("w"))
            let values = try file.floats("w", shape: [2, 3])
            let expected = codes.enumerated().map { Float($0.element) * scales[$0.offset / 3] }
            XCTAssertEqual(values, expected, "\(bits) bits")
        }
    }

    func testTheSameBytesAsThePythonPacker() throws {
        // Tools/packed_weights.py pack(np.array([[1.0, -0.5, 0.25], [0, 0, 0]], dtype=np.float32), 10):
        // scale [1/511, 0], codes [511, -256 (ties to even: -255.5 → -256), 128, 0, 0, 0].
        let file = Self.file("w", codes: [511, -256, 128, 0, 0, 0], bits: 10, scales: [Float(1) / 511, 0])
        let bytes = try file.tensor(SafeTensorsFile.packedKey("w", bits: 10)).bytes
        XCTAssertEqual(bytes, [0xff, 0x01, 0x0c, 0x08, 0x00, 0x00, 0x00, 0x00])
        let values = try file.floats("w", shape: [2, 3])
        XCTAssertEqual(values[0], 511 * (Float(1) / 511))
        XCTAssertEqual(Array(values[3...]), [0, 0, 0])
    }

    func testBadPackedFormsAreRefusedByName() throws {
        let scales: [Float] = [1]
        func refuses(_ file: SafeTensorsFile, shape: [Int] = [1, 3], _ text: String,
                     line: UInt = #line) {
            XCTAssertThrowsError(try file.floats("w", shape: shape), line: line) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)", line: line)
            }
        }
        // The most negative code has no opposite: refused.
        refuses(Self.file("w", codes: [-512, 0, 0], bits: 10, scales: scales), "-511...511")
        // Both the tensor and a packed form, or two packed forms: ambiguous.
        refuses(Self.file("w", codes: [1, 2, 3], bits: 10, scales: scales,
                          extra: ["w": StoredTensor(floats: [1, 2, 3], shape: [1, 3], as: .f32)]), "storage")
        refuses(Self.file("w", codes: [1, 2, 3], bits: 10, scales: scales,
                          extra: ["w.packed12": StoredTensor(uint8s: [0, 0, 0, 0, 0], shape: [5])]), "storage")
        // Too few or too many bytes for the shape.
        refuses(Self.file("w", codes: [1, 2, 3], bits: 10, scales: scales), shape: [1, 4], "w.packed10")
        refuses(Self.file("w", codes: [1, 2, 3, 4, 5, 6, 7], bits: 10, scales: scales), "w.packed10")
        // Non-zero padding bits after the last code.
        var padded = Self.file("w", codes: [1, 2, 3], bits: 10, scales: scales).tensors
        padded["w.packed10"] = StoredTensor(uint8s: [1, 8, 48, 0x80], shape: [4])
        refuses(SafeTensorsFile(metadata: [:], tensors: padded), "padding")
        // Scales: one per row, F32, finite, not negative.
        refuses(Self.file("w", codes: [1, 2, 3], bits: 10, scales: [1, 1]), "w.scale")
        refuses(Self.file("w", codes: [1, 2, 3], bits: 10, scales: [-1]), "scales")
        refuses(Self.file("w", codes: [1, 2, 3], bits: 10, scales: [.nan]), "scales")
        var half = Self.file("w", codes: [1, 2, 3], bits: 10, scales: scales).tensors
        half["w.scale"] = StoredTensor(floats: [1], shape: [1], as: .f16)
        refuses(SafeTensorsFile(metadata: [:], tensors: half), "F32")
        // A packed tensor needs the shape its reader expects.
        XCTAssertThrowsError(try Self.file("w", codes: [1, 2, 3], bits: 10, scales: scales).floats("w"))
    }
}
