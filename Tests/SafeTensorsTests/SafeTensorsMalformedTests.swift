import XCTest
@testable import SafeTensors

/// A file from a header text and a data section, with the true header length.
private func file(_ header: String, data: [UInt8] = []) -> [UInt8] {
    let json = Array(header.utf8)
    return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + data
}

/// A file from raw header bytes (for invalid UTF-8).
private func file(headerBytes json: [UInt8]) -> [UInt8] {
    withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json
}

private func assertRejects(_ bytes: [UInt8], _ expected: SafeTensorsError, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try SafeTensorsFile(bytes: bytes), file: file, line: line) { error in
        XCTAssertEqual(error as? SafeTensorsError, expected, file: file, line: line)
    }
}

private func assertRejectsJSON(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try SafeTensorsFile(bytes: bytes), file: file, line: line) { error in
        guard case .invalidJSON = error as? SafeTensorsError else {
            return XCTFail("expected invalidJSON, got \(error)", file: file, line: line)
        }
    }
}

final class SafeTensorsMalformedTests: XCTestCase {
    let f32x2 = #""dtype":"F32","shape":[2],"data_offsets":[0,8]"#

    func testHeaderLength() {
        assertRejects([1, 0, 0, 0, 0], .fileTooShort(byteCount: 5))
        assertRejects([], .fileTooShort(byteCount: 0))
        assertRejects([100, 0, 0, 0, 0, 0, 0, 0] + Array("{}".utf8), .headerExceedsFile(declared: 100, available: 2))
        assertRejects([0, 0, 0, 0, 0, 0, 0, 0x80] + Array("{}".utf8), .headerTooLarge(declared: 1 << 63, limit: 100_000_000))
        assertRejects([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .headerTooLarge(declared: .max, limit: 100_000_000))
        XCTAssertThrowsError(try SafeTensorsFile(bytes: file("{}   "), limits: SafeTensorsLimits(maxHeaderBytes: 4))) { error in
            XCTAssertEqual(error as? SafeTensorsError, .headerTooLarge(declared: 5, limit: 4))
        }
        XCTAssertEqual(
            SafeTensorsError.headerExceedsFile(declared: 100, available: 2).description,
            "safetensors header claims 100 bytes but only 2 follow the length; the file is truncated or not a safetensors file")
    }

    func testTruncatedFile() throws {
        let whole = SafeTensorsFile(tensors: [
            "a": StoredTensor(floats: [1, 2, 3], shape: [3]),
            "b": StoredTensor(int8s: [1, 2], shape: [2]),
        ]).serialized()
        let dataBytes = 14
        assertRejects(Array(whole.dropLast()), .offsetsOutOfBounds(key: "b", begin: 12, end: 14, dataBytes: dataBytes - 1))
        assertRejects(Array(whole.dropLast(3)), .offsetsOutOfBounds(key: "a", begin: 0, end: 12, dataBytes: dataBytes - 3))
        let headerLength = whole.count - 8 - dataBytes
        assertRejects(Array(whole.prefix(20)), .headerExceedsFile(declared: UInt64(headerLength), available: 12))
        XCTAssertEqual(
            SafeTensorsError.offsetsOutOfBounds(key: "b", begin: 12, end: 14, dataBytes: 13).description,
            "tensor \"b\": data_offsets [12, 14] run past the 13-byte data section; the file may be truncated")
    }

    func testInvalidJSON() {
        assertRejects(file(#"{"a": "#), .invalidJSON(offset: 6, reason: "the header ends where a value should begin"))
        assertRejects(file(#"{"a" 1}"#), .invalidJSON(offset: 5, reason: "expected ':' after a key"))
        assertRejectsJSON(file(""))
        assertRejectsJSON(file(#"{"a":{},}"#))              // trailing comma
        assertRejectsJSON(file(#"{'a':{}}"#))                // single quotes
        assertRejectsJSON(file(#"{"a":NaN}"#))
        assertRejectsJSON(file(#"{"a":01}"#))                // leading zero
        assertRejectsJSON(file(#"{"a":1.}"#))
        assertRejectsJSON(file(#"{"a":-}"#))
        assertRejectsJSON(file("{\"a\":\"x\ny\"}"))          // raw control character in a string
        assertRejectsJSON(file(#"{"a":"\x"}"#))              // unknown escape
        assertRejectsJSON(file(#"{"a":"\ud800"}"#))          // lone high surrogate
        assertRejectsJSON(file(#"{"a":"\udc00"}"#))          // lone low surrogate
        assertRejectsJSON(file(#"{"a":"\u12"}"#))
        assertRejectsJSON(file(#"{} {}"#))                   // two values
        assertRejectsJSON(file(#"{}\#u{0}"#))                // NUL padding is not whitespace
        assertRejectsJSON(file(#"{"a":tru}"#))
        assertRejectsJSON(file(headerBytes: Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8))) // invalid UTF-8
        assertRejectsJSON(file(headerBytes: Array(#"{""#.utf8) + [0xFF] + Array(#"":{}}"#.utf8)))
        let deep = "{\"a\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        assertRejects(file(deep), .invalidJSON(offset: 5 + 31, reason: "nested deeper than 32 levels"))
    }

    func testValidJSONThatIsNotAHeader() {
        assertRejects(file("[1, 2]"), .headerNotObject(found: "an array"))
        assertRejects(file("\"text\"  "), .headerNotObject(found: "the string \"text\""))
        assertRejects(file(#"{"a":{\#(f32x2)},"a":{\#(f32x2)}}"#, data: Array(repeating: 0, count: 8)), .duplicateKey("a"))
        assertRejects(file(#"{"a":{"dtype":"F32","dtype":"F32"}}"#), .duplicateKey("dtype"))
        assertRejects(file(#"{"a":[1]}"#),
                      .malformedEntry(key: "a", field: "the entry", expected: "an object with dtype, shape and data_offsets", found: "an array"))
        assertRejects(file(#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#),
                      .malformedEntry(key: "a", field: "dtype", expected: "a string", found: "nothing"))
        assertRejects(file(#"{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#),
                      .malformedEntry(key: "a", field: "dtype", expected: "a string", found: "the number 4"))
        assertRejects(file(#"{"a":{\#(f32x2),"extra":1}}"#),
                      .malformedEntry(key: "a", field: "field \"extra\"", expected: "absent (only dtype, shape and data_offsets are allowed)", found: "the number 1"))
    }

    func testUnknownDType() {
        assertRejects(file(#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#), .unsupportedDType(key: "a", found: "F64"))
        assertRejects(file(#"{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}"#), .unsupportedDType(key: "a", found: "f32"))
        XCTAssertEqual(SafeTensorsError.unsupportedDType(key: "a", found: "F64").description,
                       "tensor \"a\": dtype F64 is not supported (vqcodec reads F32, I32, BF16, F16, I16, I8, U8)")
    }

    func testInvalidShapes() {
        func entry(_ shape: String, _ offsets: String = "[0,8]") -> [UInt8] {
            file(#"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":\#(offsets)}}"#, data: Array(repeating: 0, count: 8))
        }
        assertRejects(entry("[-1]"), .invalidShape(key: "w", found: "the number -1"))
        assertRejects(entry("[2.0]"), .invalidShape(key: "w", found: "the number 2.0"))
        assertRejects(entry("[2e0]"), .invalidShape(key: "w", found: "the number 2e0"))
        assertRejects(entry(#"["2"]"#), .invalidShape(key: "w", found: "the string \"2\""))
        assertRejects(entry("2"), .invalidShape(key: "w", found: "the number 2"))
        assertRejects(entry("[18446744073709551616]"), .invalidShape(key: "w", found: "the number 18446744073709551616"))
        assertRejects(entry("[" + Array(repeating: "1", count: 17).joined(separator: ",") + "]"), .invalidShape(key: "w", found: "17 dimensions (the limit is 16)"))
        XCTAssertEqual(SafeTensorsError.invalidShape(key: "w", found: "the number -1").description,
                       "tensor \"w\": shape should be a list of non-negative integers, found the number -1")
        assertRejects(entry("[4611686018427387904,4]"), .shapeOverflow(key: "w", shape: [4611686018427387904, 4]))
        assertRejects(entry("[3037000500,3037000500]"), .shapeOverflow(key: "w", shape: [3037000500, 3037000500]))
        assertRejects(file(#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#),
                      .malformedEntry(key: "w", field: "shape", expected: "an array", found: "nothing"))
    }

    func testOffsets() {
        let form = "two integers [begin, end] with 0 ≤ begin ≤ end < 2^63"
        func entry(_ offsets: String, shape: String = "[2]", data: Int = 8) -> [UInt8] {
            file(#"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":\#(offsets)}}"#, data: Array(repeating: 0, count: data))
        }
        assertRejects(entry("[0,12]", shape: "[3]"), .offsetsOutOfBounds(key: "w", begin: 0, end: 12, dataBytes: 8))
        assertRejects(entry("[8,16]"), .offsetsOutOfBounds(key: "w", begin: 8, end: 16, dataBytes: 8))
        assertRejects(entry("[0,12]"), .sizeMismatch(key: "w", dtype: .f32, shape: [2], expectedBytes: 8, foundBytes: 12))
        assertRejects(entry("[0,4]"), .sizeMismatch(key: "w", dtype: .f32, shape: [2], expectedBytes: 8, foundBytes: 4))
        assertRejects(entry("[8,0]"), .malformedEntry(key: "w", field: "data_offsets", expected: form, found: "[8, 0]"))
        assertRejects(entry("[0,8,16]"), .malformedEntry(key: "w", field: "data_offsets", expected: form, found: "[0, 8, 16]"))
        assertRejects(entry("[-8,0]"), .malformedEntry(key: "w", field: "data_offsets", expected: form, found: "[-8, 0]"))
        assertRejects(entry("[0,8.0]"), .malformedEntry(key: "w", field: "data_offsets", expected: form, found: "[0, 8.0]"))
        assertRejects(entry("[0,18446744073709551616]"),
                      .malformedEntry(key: "w", field: "data_offsets", expected: form, found: "[0, 18446744073709551616]"))
        assertRejects(entry("{}"), .malformedEntry(key: "w", field: "data_offsets", expected: form, found: "an object"))
        // A huge tensor whose bytes are not there is refused before anything is allocated for it.
        assertRejects(entry("[0,4398046511104]", shape: "[1099511627776]"),
                      .offsetsOutOfBounds(key: "w", begin: 0, end: 4398046511104, dataBytes: 8))
        XCTAssertEqual(SafeTensorsError.sizeMismatch(key: "w", dtype: .f32, shape: [2], expectedBytes: 8, foundBytes: 12).description,
                       "tensor \"w\": F32 [2] needs 8 bytes but data_offsets span 12")
    }

    func testOverlapsAreRejectedButHolesAreAllowed() throws {
        let twelve = [UInt8](repeating: 0, count: 12)
        assertRejects(file(#"{"a":{\#(f32x2)},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: twelve),
                      .overlappingTensors(key: "b", other: "a"))
        assertRejects(file(#"{"b":{"dtype":"I8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"I32","shape":[3],"data_offsets":[0,12]}}"#, data: twelve),
                      .overlappingTensors(key: "b", other: "a"))
        assertRejects(file(#"{"a":{\#(f32x2)},"b":{\#(f32x2)}}"#, data: twelve), .overlappingTensors(key: "b", other: "a"))

        // A hole between tensors, trailing bytes and empty tensors anywhere are accepted (documented leniency).
        let lenient = try SafeTensorsFile(bytes: file(
            #"{"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"I8","shape":[2],"data_offsets":[6,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[1,1]}}"#,
            data: [1, 2, 9, 9, 9, 9, 3, 4, 9, 9]))
        XCTAssertEqual(try lenient.tensor("a").int8s(), [1, 2])
        XCTAssertEqual(try lenient.tensor("b").int8s(), [3, 4])
        XCTAssertEqual(try lenient.tensor("e").floats(), [])
    }

    func testMetadata() throws {
        assertRejects(file(#"{"__metadata__":{"n":3}}"#), .metadataValueNotString(key: "n", found: "the number 3"))
        assertRejects(file(#"{"__metadata__":{"n":null}}"#), .metadataValueNotString(key: "n", found: "null"))
        assertRejects(file(#"{"__metadata__":{"n":{"x":"y"}}}"#), .metadataValueNotString(key: "n", found: "an object"))
        assertRejects(file(#"{"__metadata__":["a"]}"#), .metadataNotObject(found: "an array"))
        assertRejects(file(#"{"__metadata__":{},"__metadata__":{}}"#), .duplicateKey("__metadata__"))
        XCTAssertEqual(SafeTensorsError.metadataValueNotString(key: "n", found: "the number 3").description,
                       "safetensors metadata \"n\" must be a string, found the number 3")

        // Escapes, surrogate pairs, whitespace and space padding are read as JSON says.
        let read = try SafeTensorsFile(bytes: file(" \n{ \"__metadata__\" : { \"k\\/\\u00e9\" : \"\\ud83d\\ude00 \\\"\\\\\\b\\f\\n\\r\\t\" } }    "))
        XCTAssertEqual(read.metadata, ["k/é": "😀 \"\\\u{8}\u{C}\n\r\t"])
        XCTAssertEqual(read.tensors, [:])
        XCTAssertEqual(try SafeTensorsFile(bytes: read.serialized()), read)
    }
}
