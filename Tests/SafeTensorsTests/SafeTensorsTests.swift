import SeededRandom
import XCTest
import Foundation
import FileIO
@testable import SafeTensors

final class SafeTensorsTests: XCTestCase {
    // MARK: Round trips

    func testEveryDTypeRoundTripsThroughBytes() throws {
        var rng = SplitMix64(seed: 7)
        let floats = (0..<60).map { _ in rng.float(in: -1000...1000) }
        var file = SafeTensorsFile(metadata: ["model": "test", "note": "ünïcödé \"quoted\"\n\u{1}"])
        file.tensors["f32"] = StoredTensor(floats: floats, shape: [3, 4, 5])
        file.tensors["f16"] = StoredTensor(floats: floats, shape: [60], as: .f16)
        file.tensors["bf16"] = StoredTensor(floats: floats, shape: [2, 30], as: .bf16)
        let int32s = (0..<7).map { _ in Int32(truncatingIfNeeded: rng.next()) } + [.min, .max]
        let int16s = (0..<7).map { _ in Int16(truncatingIfNeeded: rng.next()) } + [.min, .max]
        let int8s = (0..<7).map { _ in Int8(truncatingIfNeeded: rng.next()) } + [.min, .max]
        let uint8s = (0..<7).map { _ in UInt8(truncatingIfNeeded: rng.next()) } + [.min, .max]
        file.tensors["i32"] = StoredTensor(int32s: int32s, shape: [3, 3])
        file.tensors["i16"] = StoredTensor(int16s: int16s, shape: [9])
        file.tensors["i8"] = StoredTensor(int8s: int8s, shape: [9, 1])
        file.tensors["u8"] = StoredTensor(uint8s: uint8s, shape: [1, 9])
        file.tensors["scalar"] = StoredTensor(floats: [2.5], shape: [])
        file.tensors["empty"] = StoredTensor(floats: [], shape: [0, 3], as: .f16)

        let read = try SafeTensorsFile(bytes: file.serialized())
        XCTAssertEqual(read, file)
        XCTAssertEqual(try read.floats("f32", shape: [3, 4, 5]), floats)
        XCTAssertEqual(try read.floats("f16"), floats.map { float(fromHalfBits: halfBits(from: $0)) })
        XCTAssertEqual(try read.floats("bf16"), floats.map { float(fromBFloat16Bits: bfloat16Bits(from: $0)) })
        for (stored, original) in zip(try read.floats("f16"), floats) {
            XCTAssertEqual(stored, original, accuracy: abs(original) * 0x1p-11, "F16 keeps 11 significant bits")
        }
        XCTAssertEqual(try read.tensor("i32").int32s(), int32s)
        XCTAssertEqual(try read.tensor("i16").int16s(), int16s)
        XCTAssertEqual(try read.tensor("i8").int8s(), int8s)
        XCTAssertEqual(try read.tensor("u8").uint8s(), uint8s)
        XCTAssertEqual(try read.floats("scalar", shape: []), [2.5])
        XCTAssertEqual(try read.floats("empty", shape: [0, 3]), [])
        XCTAssertEqual(read.metadata, file.metadata)
    }

    func testIntegerAccessorsWidenExactlyAndRefuseNarrowing() throws {
        let i8 = StoredTensor(int8s: [-128, -1, 0, 127], shape: [4])
        let u8 = StoredTensor(uint8s: [0, 128, 255], shape: [3])
        XCTAssertEqual(try i8.int32s(), [-128, -1, 0, 127])
        XCTAssertEqual(try i8.int16s(), [-128, -1, 0, 127])
        XCTAssertEqual(try u8.int32s(), [0, 128, 255])
        XCTAssertThrowsError(try StoredTensor(int32s: [1], shape: [1]).int16s()) { error in
            XCTAssertEqual(error as? SafeTensorsError, .wrongDType(key: nil, expected: [.i16, .i8, .u8], found: .i32))
        }
        XCTAssertThrowsError(try u8.int8s()) { error in
            XCTAssertEqual(error as? SafeTensorsError, .wrongDType(key: nil, expected: [.i8], found: .u8))
        }
        let file = SafeTensorsFile(tensors: ["codes": StoredTensor(int16s: [1, 2], shape: [2])])
        XCTAssertThrowsError(try file.floats("codes")) { error in
            XCTAssertEqual(error as? SafeTensorsError, .wrongDType(key: "codes", expected: [.f32, .f16, .bf16], found: .i16))
            XCTAssertEqual("\(error)", "tensor \"codes\" has dtype I16, expected F32 or F16 or BF16")
        }
    }

    // MARK: Half precision

    /// Every half → float → half is the identity (NaNs come back quiet, with their payload).
    func testHalfConversionRoundTripsAllBitPatterns() {
        for bits in UInt16.min...UInt16.max {
            let value = float(fromHalfBits: bits)
            let back = halfBits(from: value)
            let isNaN = bits & 0x7C00 == 0x7C00 && bits & 0x03FF != 0
            if isNaN {
                XCTAssertTrue(value.isNaN, "0x\(String(bits, radix: 16))")
                XCTAssertEqual(back, bits | 0x0200, "0x\(String(bits, radix: 16))")
            } else if back != bits {
                XCTFail("0x\(String(bits, radix: 16)) → \(value) → 0x\(String(back, radix: 16))")
            }
        }
    }

    /// Midpoints between neighbouring halves round to the even one; a float just off a midpoint
    /// rounds to the nearer one.
    func testHalfConversionRoundsTiesToEvenEverywhere() {
        for bits in UInt16(0)..<0x7BFF {
            let low = float(fromHalfBits: bits), high = float(fromHalfBits: bits + 1)
            let middle = (low + high) / 2 // exact: halves have 11 significant bits, a float 24
            let even = bits & 1 == 0 ? bits : bits + 1
            XCTAssertEqual(halfBits(from: middle), even, "midpoint after 0x\(String(bits, radix: 16))")
            XCTAssertEqual(halfBits(from: -middle), even | 0x8000)
            XCTAssertEqual(halfBits(from: middle.nextDown), bits)
            XCTAssertEqual(halfBits(from: middle.nextUp), bits + 1)
        }
    }

    func testHalfConversionSpecialValues() {
        XCTAssertEqual(halfBits(from: 0), 0x0000)
        XCTAssertEqual(halfBits(from: -0.0), 0x8000)
        XCTAssertEqual(halfBits(from: 0x1p-24), 0x0001, "smallest subnormal")
        XCTAssertEqual(halfBits(from: 0x1p-25), 0x0000, "half the smallest subnormal ties to even zero")
        XCTAssertEqual(halfBits(from: Float(0x1p-25).nextUp), 0x0001)
        XCTAssertEqual(halfBits(from: 0x1.8p-24), 0x0002, "1.5 units ties to even 2")
        XCTAssertEqual(halfBits(from: 0x1p-14), 0x0400, "smallest normal")
        XCTAssertEqual(halfBits(from: Float(0x1p-14).nextDown), 0x0400, "rounds up into the normals")
        XCTAssertEqual(halfBits(from: 65504), 0x7BFF, "largest finite")
        XCTAssertEqual(halfBits(from: Float(65520).nextDown), 0x7BFF)
        XCTAssertEqual(halfBits(from: 65520), 0x7C00, "the midpoint to 65536 ties to even: infinity")
        XCTAssertEqual(halfBits(from: 1e10), 0x7C00)
        XCTAssertEqual(halfBits(from: -.infinity), 0xFC00)
        XCTAssertEqual(halfBits(from: .greatestFiniteMagnitude), 0x7C00)
        XCTAssertEqual(halfBits(from: .leastNonzeroMagnitude), 0x0000)
        XCTAssertEqual(halfBits(from: 1 + 0x1p-11), 0x3C00, "1 + half an ulp ties to even 1")
        XCTAssertEqual(halfBits(from: 1 + 3 * 0x1p-11), 0x3C02, "1 + 1.5 ulp ties to even 1 + 2 ulp")
        XCTAssertEqual(halfBits(from: .nan) & 0x7E00, 0x7E00)
        XCTAssertTrue(float(fromHalfBits: 0x7E00).isNaN)
        XCTAssertEqual(float(fromHalfBits: 0x0001), 0x1p-24)
        XCTAssertEqual(float(fromHalfBits: 0x83FF), -0x1.ff8p-15)
        XCTAssertEqual(float(fromHalfBits: 0x7C00), .infinity)
    }

    #if !(os(macOS) && arch(x86_64))
    /// The hand-written conversions agree with Swift's Float16 on every half and on a sweep of floats.
    func testHalfConversionAgreesWithFloat16() {
        for bits in UInt16.min...UInt16.max {
            let ours = float(fromHalfBits: bits), theirs = Float(Float16(bitPattern: bits))
            XCTAssertTrue(ours.bitPattern == theirs.bitPattern || (ours.isNaN && theirs.isNaN), "0x\(String(bits, radix: 16))")
        }
        var mismatches = 0
        for pattern in stride(from: UInt32(0), to: UInt32.max - 4093, by: 4093) { // ~1M floats over every exponent
            let value = Float(bitPattern: pattern)
            if value.isNaN { continue }
            if halfBits(from: value) != Float16(value).bitPattern { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0)
    }
    #endif

    func testBFloat16Conversion() {
        XCTAssertEqual(bfloat16Bits(from: 1), 0x3F80)
        XCTAssertEqual(bfloat16Bits(from: -2), 0xC000)
        XCTAssertEqual(bfloat16Bits(from: Float(bitPattern: 0x3F80_8000)), 0x3F80, "tie to even (down)")
        XCTAssertEqual(bfloat16Bits(from: Float(bitPattern: 0x3F81_8000)), 0x3F82, "tie to even (up)")
        XCTAssertEqual(bfloat16Bits(from: Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(bfloat16Bits(from: .greatestFiniteMagnitude), 0x7F80, "rounds to infinity")
        XCTAssertEqual(bfloat16Bits(from: Float(bitPattern: 0x7F80_0001)) & 0x7FC0, 0x7FC0, "signalling NaN stays NaN")
        XCTAssertEqual(float(fromBFloat16Bits: 0x4049), 3.140625)
    }

    // MARK: Determinism and layout

    /// The header the reference writer (Python `safetensors` 0.8, `safetensors.numpy.save`) produced
    /// for these tensors: dtype order, key order, offsets, compact JSON and space padding.
    func testLayoutMatchesTheReferenceWriter() throws {
        let file = SafeTensorsFile(metadata: ["z": "1", "a": "2"], tensors: [
            "b": StoredTensor(int8s: [0, 0], shape: [2]),
            "a": StoredTensor(floats: [1, 1, 1], shape: [3]),
            "c": StoredTensor(floats: [], shape: [0, 3], as: .f16),
        ])
        let bytes = file.serialized()
        let reference = #"{"__metadata__":{"a":"2","z":"1"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"c":{"dtype":"F16","shape":[0,3],"data_offsets":[12,12]},"b":{"dtype":"I8","shape":[2],"data_offsets":[12,14]}} "#
        XCTAssertEqual(Array(bytes[0..<8]), [200, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(String(decoding: bytes[8..<208], as: UTF8.self), reference)
        XCTAssertEqual(Array(bytes[208...]), [0, 0, 0x80, 0x3F, 0, 0, 0x80, 0x3F, 0, 0, 0x80, 0x3F, 0, 0])
    }

    func testSerializationIsDeterministicAndAligned() throws {
        var rng = SplitMix64(seed: 11)
        var names = (0..<40).map { "layer\($0 % 7).\(["weight", "bias", "codebook"][$0 % 3]).\($0)" }
        var a = SafeTensorsFile(metadata: ["seed": "11", "steps": "100"])
        var b = SafeTensorsFile()
        b.tensors.reserveCapacity(1000)
        let dtypes: [DType] = [.f32, .f16, .bf16, .i32, .i16, .i8, .u8]
        var made: [String: StoredTensor] = [:]
        for (i, name) in names.enumerated() {
            let count = Int(rng.next() % 5) * 3
            let dtype = dtypes[i % dtypes.count]
            made[name] = StoredTensor(dtype: dtype, shape: [count / 3, 3], bytes: (0..<(count * dtype.byteCount)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
        for name in names { a.tensors[name] = made[name] }
        names.reverse()
        for name in names { b.tensors[name] = made[name] }
        b.metadata["steps"] = "100"
        b.metadata["seed"] = "11"
        let bytes = a.serialized()
        XCTAssertEqual(bytes, b.serialized())
        XCTAssertEqual(bytes, try SafeTensorsFile(bytes: bytes).serialized(), "reading and writing again changes nothing")

        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        XCTAssertEqual((8 + headerLength) % 8, 0, "data starts 8-aligned")
        guard case .object(let members) = try JSONParser.parse(bytes, range: 8..<(8 + headerLength)) else { return XCTFail() }
        var previous: (rank: Int, key: String, end: Int)? = nil
        for (key, _) in members where key != "__metadata__" {
            let tensor = a.tensors[key]!
            guard case .object(let fields) = members.first(where: { $0.key == key })!.value,
                  case .array(let offsets) = fields.first(where: { $0.key == "data_offsets" })!.value,
                  case .number(let begin) = offsets[0], case .number(let end) = offsets[1] else { return XCTFail() }
            XCTAssertEqual(Int(begin)! % tensor.dtype.byteCount, 0, "\(key) is aligned to its element size")
            if let previous {
                XCTAssertEqual(Int(begin)!, previous.end, "tensors are contiguous")
                XCTAssertTrue(previous.rank < tensor.dtype.layoutRank || (previous.rank == tensor.dtype.layoutRank && previous.key < key))
            }
            previous = (tensor.dtype.layoutRank, key, Int(end)!)
        }
    }

    func testFileWriteAndReadWithPathInErrors() throws {
        let folder = NSTemporaryDirectory() + "/vqcodec-safetensors-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/model.safetensors"
        let file = SafeTensorsFile(metadata: ["k": "v"], tensors: ["w": StoredTensor(floats: [1, 2, 3], shape: [3], as: .f16)])
        try file.write(to: path)
        XCTAssertEqual(try SafeTensorsFile(contentsOf: path), file)
        XCTAssertEqual(try AtomicFile.read(path), file.serialized())

        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: folder + "/absent.safetensors")) { error in
            XCTAssertEqual(error as? SafeTensorsError, .io(.notFound(path: folder + "/absent.safetensors")))
        }
        try AtomicFile.write([1, 2, 3], to: path)
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: path)) { error in
            XCTAssertEqual(error as? SafeTensorsError, .file(path: path, error: .fileTooShort(byteCount: 3)))
            XCTAssertEqual("\(error)", "\(path): not a safetensors file: it has 3 bytes, fewer than the 8-byte header length")
        }
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: path, limits: SafeTensorsLimits(maxFileBytes: 2))) { error in
            XCTAssertEqual(error as? SafeTensorsError, .io(.tooLarge(path: path, bytes: 3, limit: 2)))
        }
    }
}
