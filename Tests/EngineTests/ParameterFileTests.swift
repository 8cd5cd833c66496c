import XCTest
import SafeTensors
@testable import Engine

/// Parameters written to and loaded from a safetensors file by their stable names.
final class ParameterFileTests: XCTestCase {
    func testParametersRoundTripAndLoadChecksEverything() throws {
        let weight = Parameter(name: "conv.weight", value: Tensor(shape: [2, 1, 3, 3], data: (0..<18).map { Float($0) / 7 }))
        let bias = Parameter(name: "conv.bias", value: Tensor(shape: [2], data: [0.25, -1]))
        let file = SafeTensorsFile(parameters: [weight, bias], metadata: ["arch": "tiny"])
        XCTAssertEqual(file.metadata, ["arch": "tiny"])

        let loadedWeight = Parameter(name: "conv.weight", value: Tensor(zeros: [2, 1, 3, 3]))
        let loadedBias = Parameter(name: "conv.bias", value: Tensor(zeros: [2]))
        try SafeTensorsFile(bytes: file.serialized()).load(into: [loadedWeight, loadedBias])
        XCTAssertEqual(loadedWeight.value, weight.value)
        XCTAssertEqual(loadedBias.value, bias.value)

        // F16 storage loads the rounded values.
        let half = SafeTensorsFile(parameters: [weight], dtype: .f16)
        try half.load(into: [loadedWeight])
        XCTAssertEqual(loadedWeight.value.data, try StoredTensor(floats: weight.value.data, shape: [18], as: .f16).floats())

        // Errors name every missing key, the wrong shape, every unused tensor; nothing changes on failure.
        let untouched = Parameter(name: "conv.bias", value: Tensor(shape: [2], data: [9, 9]))
        let other = Parameter(name: "a.missing", value: Tensor(zeros: [1]))
        let another = Parameter(name: "z.missing", value: Tensor(zeros: [1]))
        XCTAssertThrowsError(try file.load(into: [untouched, another, other])) { error in
            XCTAssertEqual(error as? SafeTensorsError, .missingTensors(["a.missing", "z.missing"]))
            XCTAssertEqual("\(error)", "missing tensors: \"a.missing\", \"z.missing\"; is this the right model file?")
        }
        let wrongShape = Parameter(name: "conv.weight", value: Tensor(zeros: [2, 9]))
        XCTAssertThrowsError(try file.load(into: [untouched, wrongShape])) { error in
            XCTAssertEqual(error as? SafeTensorsError, .shapeMismatch(key: "conv.weight", expected: [2, 9], found: [2, 1, 3, 3]))
            XCTAssertEqual("\(error)", "tensor \"conv.weight\": expected shape [2, 9], found [2, 1, 3, 3]; is this the right model file?")
        }
        XCTAssertThrowsError(try file.load(into: [untouched])) { error in
            XCTAssertEqual(error as? SafeTensorsError, .unexpectedTensors(["conv.weight"]))
        }
        XCTAssertEqual(untouched.value.data, [9, 9], "a failed load changes nothing")
        try file.load(into: [untouched], allowingUnusedTensors: true)
        XCTAssertEqual(untouched.value.data, [0.25, -1])
    }
}
