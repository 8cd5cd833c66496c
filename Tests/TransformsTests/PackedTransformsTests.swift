import Engine
import Foundation
import SafeTensors
import Transforms
import XCTest

/// A progressive model whose convolution kernels `Tools/compact_model.py --pack-transforms 10`
/// packed (`Fixtures/models/progressive-tiny-packed10.safetensors`, from `progressive-tiny`).
final class PackedTransformsTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/models")

    func files() throws -> (float: SafeTensorsFile, packed: SafeTensorsFile) {
        (try SafeTensorsFile(contentsOf: Self.models.appendingPathComponent("progressive-tiny.safetensors").path),
         try SafeTensorsFile(contentsOf: Self.models.appendingPathComponent("progressive-tiny-packed10.safetensors").path))
    }

    func testThePythonPackerFollowsTheRule() throws {
        let (float, packed) = try files()
        let kernels = float.tensors.filter {
            $0.key.hasPrefix("analysis.") || $0.key.hasPrefix("synthesis.") ? $0.value.shape.count == 4 : false
        }.map(\.key).sorted()
        XCTAssertEqual(kernels.count, 8)
        for key in kernels {
            XCTAssertNil(packed.tensors[key], "\(key) is stored packed")
            XCTAssertEqual(try packed.packedBits(of: key), 10)
            let shape = float.tensors[key]!.shape
            let weights = try float.floats(key, shape: shape)
            // Each output channel's largest magnitude is 511 codes; round to nearest, ties to even.
            let row = weights.count / shape[0]
            var expected = [Float](repeating: 0, count: weights.count)
            for o in 0..<shape[0] {
                let slice = weights[o * row ..< (o + 1) * row]
                let scale = slice.map(abs).max()! / 511
                for i in slice.indices {
                    expected[i] = scale > 0 ? (weights[i] / scale).rounded(.toNearestOrEven) * scale : 0
                }
            }
            XCTAssertEqual(try packed.floats(key, shape: shape), expected, key)
        }
        // Biases and GDN parameters stay floats (F16).
        XCTAssertEqual(packed.tensors["synthesis.0.bias"]?.dtype, .f16)
    }

    func testAPackedModelDecodesAsItsFloatTwinWithinTheRounding() throws {
        let (float, packed) = try files()
        let reference = try ProgressiveVQVAE(file: float)
        let model = try ProgressiveVQVAE(file: packed)
        let (h, w) = (4, 6)
        let symbols = reference.configuration.stages.enumerated().map { k, stage in
            (0..<(stage.groups * h * w)).map { Int32(($0 * 7 + k) % stage.codebookSize) }
        }
        let a = reference.reconstruct(stageSymbols: symbols, batch: 1, height: h, width: w).data
        let b = model.reconstruct(stageSymbols: symbols, batch: 1, height: h, width: w).data
        let error = zip(a, b).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(error, 0, "the packed kernels are not the float ones")
        XCTAssertLessThan(error, 0.01, "10-bit kernels move the output by less than a grey level")
    }

    func testAPackedFileMissingAScaleSaysWhich() throws {
        var tensors = try files().packed.tensors
        tensors["synthesis.2.weight.scale"] = nil
        XCTAssertThrowsError(try ProgressiveVQVAE(file: SafeTensorsFile(metadata: try files().packed.metadata,
                                                                        tensors: tensors))) { error in
            XCTAssertTrue("\(error)".contains("synthesis.2.weight.scale"), "\(error)")
        }
    }
}
