import IntegerPrior
import SafeTensors
import Engine
import XCTest
@testable import Prior

/// The integer prior in a model file: it round-trips, and the reader refuses every value the
/// format forbids with an error that names the tensor.
final class IntegerPriorFileTests: XCTestCase {
    private func frozen(groups: Int = 2, weightBits: Int = 16) -> IntegerPrior {
        PriorFreezer(prior: randomPrior(smallConfiguration(groups: groups), seed: 31), weightBits: weightBits).freeze()
    }

    private func load(_ prior: IntegerPrior, editing edit: (inout [String: StoredTensor], inout [String: String]) -> Void)
        -> PriorError? {
        var tensors = prior.storedTensors()
        var metadata = prior.metadata
        edit(&tensors, &metadata)
        do {
            _ = try IntegerPrior(file: SafeTensorsFile(metadata: metadata, tensors: tensors))
            return nil
        } catch {
            return error
        }
    }

    func testRoundTripThroughSerializedBytesGivesTheSameTables() throws {
        var random = TestRandom(seed: 32)
        for weightBits in [8, 16] {
            let prior = frozen(weightBits: weightBits)
            var file = SafeTensorsFile(metadata: prior.metadata, tensors: prior.storedTensors())
            file.tensors["synthesis.0.weight"] = StoredTensor(floats: [0.5], shape: [1])
            let loaded = try IntegerPrior(file: SafeTensorsFile(bytes: file.serialized()))
            XCTAssertEqual(loaded.storedTensors(), prior.storedTensors())
            XCTAssertEqual(loaded.metadata, prior.metadata)
            let symbols = random.symbols(2 * 4 * 5, k: prior.codebookSize)
            XCTAssertEqual(batchTables(loaded, symbols, height: 4, width: 5), batchTables(prior, symbols, height: 4, width: 5))
            let dtypes = Set(prior.storedTensors().values.map(\.dtype))
            XCTAssertTrue(dtypes.isSubset(of: [.i8, .i16, .i32]), "\(dtypes)")
            XCTAssertEqual(prior.storedTensors()["prior_int.head.logits.weight"]?.dtype, weightBits == 8 ? .i8 : .i16)
        }
    }

    func testFreezingIsDeterministic() {
        XCTAssertEqual(frozen().storedTensors(), frozen().storedTensors())
    }

    func testConfigurationRecordsFormatAndArchitecture() {
        let prior = frozen()
        XCTAssertEqual(prior.metadata["prior_int.config"],
                       #"{"blocks":2,"channels":8,"codebookSize":24,"embeddingDimension":3,"format":1,"groups":2,"headChannels":6,"kernelSize":3}"#)
    }

    func testReaderRefusesWhatTheFormatForbids() {
        let prior = frozen()
        let key = "prior_int.block1.output.weight"
        XCTAssertEqual(load(prior) { t, _ in t["prior_int.exp"] = nil }, .tensor(.missingTensors(["prior_int.exp"])))
        XCTAssertEqual(load(prior) { _, m in m["prior_int.config"] = nil }, .missingMetadata(key: "prior_int.config"))
        XCTAssertEqual(load(prior) { _, m in
            m["prior_int.config"] = m["prior_int.config"]!.replacingOccurrences(of: "\"format\":1", with: "\"format\":2")
        }, .unsupportedFormat(found: 2, supported: 1))
        XCTAssertEqual(load(prior) { t, _ in t["prior_int.extra"] = StoredTensor(int32s: [1], shape: [1]) },
                       .tensor(.unexpectedTensors(["prior_int.extra"])))
        XCTAssertEqual(load(prior) { t, _ in t["prior_int.block0.vertical.bias"] = StoredTensor(floats: [0], shape: [1]) },
                       .tensor(.wrongDType(key: "prior_int.block0.vertical.bias", expected: [.i32], found: .f32)))
        XCTAssertEqual(load(prior) { t, _ in t[key] = StoredTensor(int16s: [Int16](repeating: 0, count: 8 * 9), shape: [8, 9]) },
                       .tensor(.shapeMismatch(key: key, expected: [8, 8], found: [8, 9])))

        // Output channel 0 (group 0) may read channels 0..<4 only: a weight on channel 4 breaks the order.
        var masked = try! prior.storedTensors()[key]!.int16s()
        masked[4] = 1
        XCTAssertEqual(load(prior) { t, _ in t[key] = StoredTensor(int16s: masked, shape: [8, 8]) },
                       .invalidTensorValue(key: key, index: 4, found: 1,
                                           expected: "0 (the weight is masked by the autoregressive order)"))
        // Weights large enough to overflow a 32-bit accumulator.
        let vertical = "prior_int.block1.vertical.weight"
        var large = try! prior.storedTensors()[vertical]!.int16s()
        for i in 0..<48 { large[i] = 32767 }
        let overflow = load(prior) { t, _ in t[vertical] = StoredTensor(int16s: large, shape: [16, 2, 3, 8]) }
        guard case .invalidTensorValue(vertical, 0, _, _)? = overflow else { return XCTFail("\(String(describing: overflow))") }

        let rescale = "prior_int.head.logits.rescale"
        var pairs = try! prior.storedTensors()[rescale]!.int32s()
        pairs[1] = 63
        XCTAssertEqual(load(prior) { t, _ in t[rescale] = StoredTensor(int32s: pairs, shape: [48, 2]) },
                       .invalidTensorValue(key: rescale, index: 1, found: 63, expected: "a shift in 1…62"))
        var tanh = try! prior.storedTensors()["prior_int.tanh"]!.int16s()
        tanh[0] = -16385
        XCTAssertEqual(load(prior) { t, _ in t["prior_int.tanh"] = StoredTensor(int16s: tanh, shape: [tanh.count]) },
                       .invalidTensorValue(key: "prior_int.tanh", index: 0, found: -16385, expected: "in −16384…16384"))
        XCTAssertEqual(load(prior) { t, _ in t["prior_int.exp"] = StoredTensor(int32s: [0, 0], shape: [2]) },
                       .invalidTensorValue(key: "prior_int.exp", index: 0, found: 0,
                                           expected: "at least 1 (the most likely symbol needs weight)"))
        XCTAssertEqual(PriorError.invalidTensorValue(key: "prior_int.exp", index: 0, found: 0, expected: "at least 1").description,
                       "tensor \"prior_int.exp\": element 0 is 0, expected at least 1; the model file is damaged")
    }
}
