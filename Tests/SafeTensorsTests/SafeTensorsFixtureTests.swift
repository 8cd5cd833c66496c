import XCTest
import Foundation
@testable import SafeTensors

/// Reads `Fixtures/models/python-written.safetensors`, written by Hugging Face's reference
/// implementation through `Tools/check_safetensors.py write-fixture`, and checks every value
/// against the formulas of that script's `fixture_tensors()`, recomputed here.
final class SafeTensorsFixtureTests: XCTestCase {
    static let fixturePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/python-written.safetensors").path

    static let metadata = [
        "producer": "Tools/check_safetensors.py",
        "format": "vqcodec-fixture",
        "unicode": "ünïcödé ✓",
        "escapes": "quote\" backslash\\ newline\n tab\t control\u{1}",
        "empty": "",
    ]

    /// The fixture's tensors, built in Swift from the same formulas as the Python script.
    static func expectedTensors() -> [String: StoredTensor] {
        [
            "float32.ramp": StoredTensor(floats: (0..<24).map { Float($0) * 0.5 - 3 }, shape: [2, 3, 4]),
            "float32.special": StoredTensor(floats: [0, -0.0, 0x1p-149, .greatestFiniteMagnitude, .infinity, -.infinity, .nan], shape: [7]),
            "float32.scalar": StoredTensor(floats: [2.5], shape: []),
            "float32.empty": StoredTensor(floats: [], shape: [0, 4]),
            "float16.thirds": StoredTensor(floats: (0..<20).map { Float($0) / 3 }, shape: [4, 5], as: .f16),
            "float16.special": StoredTensor(
                dtype: .f16, shape: [12],
                bytes: [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x3C00, 0xC000, 0x3555]
                    .flatMap { (bits: UInt16) in [UInt8(bits & 0xFF), UInt8(bits >> 8)] }),
            "bfloat16.sevenths": StoredTensor(floats: (0..<6).map { Float($0) / 7 }, shape: [2, 3], as: .bf16),
            "int32.values": StoredTensor(int32s: (0..<9).map { Int32($0 * $0 * 7919 - 40000) }, shape: [3, 3]),
            "int32.extremes": StoredTensor(int32s: [.min, .max, 0, -1], shape: [4]),
            "int16.values": StoredTensor(int16s: (0..<8).map { Int16($0 * 997 - 3000) }, shape: [2, 4]),
            "int16.extremes": StoredTensor(int16s: [.min, .max, 0, -1], shape: [4]),
            "int8.values": StoredTensor(int8s: [-128, -1, 0, 1, 127, 42], shape: [2, 3]),
            "uint8.values": StoredTensor(uint8s: [0, 1, 127, 128, 254, 255], shape: [6]),
        ]
    }

    func testReadsTheFileThePythonReferenceWrote() throws {
        let file = try SafeTensorsFile(contentsOf: Self.fixturePath)
        XCTAssertEqual(file.metadata, Self.metadata)
        let expected = Self.expectedTensors()
        XCTAssertEqual(Set(file.tensors.keys), Set(expected.keys))
        for (key, tensor) in expected {
            let found = try file.tensor(key, shape: tensor.shape)
            XCTAssertEqual(found.dtype, tensor.dtype, key)
            XCTAssertEqual(found.bytes, tensor.bytes, key) // F16/BF16 bytes equal: numpy and vqcodec round alike
        }

        // The values as a user reads them.
        XCTAssertEqual(try file.floats("float32.ramp"), (0..<24).map { Float($0) * 0.5 - 3 })
        let special = try file.floats("float32.special")
        XCTAssertEqual(special[0].bitPattern, 0)
        XCTAssertEqual(special[1].bitPattern, 0x8000_0000)
        XCTAssertEqual(Array(special[2...5]), [0x1p-149, .greatestFiniteMagnitude, .infinity, -.infinity])
        XCTAssertTrue(special[6].isNaN)
        XCTAssertEqual(try file.floats("float32.scalar", shape: []), [2.5])
        XCTAssertEqual(try file.floats("float32.empty", shape: [0, 4]), [])
        for (i, value) in try file.floats("float16.thirds").enumerated() {
            XCTAssertEqual(value, Float(i) / 3, accuracy: Float(i) / 3 * 0x1p-11)
        }
        let halves = try file.floats("float16.special")
        XCTAssertEqual(halves.map(\.bitPattern)[0..<2], [0, 0x8000_0000])
        XCTAssertEqual(Array(halves[2...7]), [0x1p-24, 0x1.ff8p-15, 0x1p-14, 65504, .infinity, -.infinity])
        XCTAssertTrue(halves[8].isNaN)
        XCTAssertEqual(Array(halves[9...11]), [1, -2, 0x1.554p-2])
        for (i, value) in try file.floats("bfloat16.sevenths").enumerated() {
            XCTAssertEqual(value, Float(i) / 7, accuracy: Float(i) / 7 * 0x1p-8)
        }
        XCTAssertEqual(try file.int32s("int32.values", shape: [3, 3]), [-40000, -32081, -8324, 31271, 86704, 157975, 245084, 348031, 466816].map { Int32($0) })
        XCTAssertEqual(try file.int32s("int32.extremes"), [.min, .max, 0, -1])
        XCTAssertEqual(try file.tensor("int16.values").int16s(), [-3000, -2003, -1006, -9, 988, 1985, 2982, 3979])
        XCTAssertEqual(try file.tensor("int16.extremes").int16s(), [.min, .max, 0, -1])
        XCTAssertEqual(try file.tensor("int8.values").int8s(), [-128, -1, 0, 1, 127, 42])
        XCTAssertEqual(try file.tensor("uint8.values").uint8s(), [0, 1, 127, 128, 254, 255])
    }

    /// vqcodec writes the same tensors the same way as the reference writer: same header length,
    /// same entry order and offsets, same data bytes. (The reference writer orders metadata keys by
    /// hash, so the metadata object may list its members in another order.)
    func testWritesWhatThePythonReferenceWrites() throws {
        let python = try Array(Data(contentsOf: URL(fileURLWithPath: Self.fixturePath)))
        let swift = SafeTensorsFile(metadata: Self.metadata, tensors: Self.expectedTensors()).serialized()
        XCTAssertEqual(swift.count, python.count)
        XCTAssertEqual(Array(swift.prefix(8)), Array(python.prefix(8)), "same header length")
        let headerEnd = 8 + Int(python[0]) + Int(python[1]) << 8
        XCTAssertEqual(Array(swift[headerEnd...]), Array(python[headerEnd...]), "same data section")
        func entries(_ bytes: [UInt8]) throws -> [String] {
            guard case .object(let members) = try JSONParser.parse(bytes, range: 8..<headerEnd) else { return [] }
            return members.filter { $0.key != "__metadata__" }.map { member in
                guard case .object(let fields) = member.value else { return member.key }
                return member.key + ": " + fields.map { field in
                    switch field.value {
                    case .string(let s): return "\(field.key)=\(s)"
                    case .array(let a): return "\(field.key)=" + a.map { if case .number(let n) = $0 { n } else { "?" } }.joined(separator: ",")
                    default: return field.key
                    }
                }.joined(separator: " ")
            }
        }
        XCTAssertEqual(try entries(swift), try entries(python), "same entries in the same order")
        XCTAssertEqual(try SafeTensorsFile(bytes: swift), try SafeTensorsFile(bytes: python))
    }
}
