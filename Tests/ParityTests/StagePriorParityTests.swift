import Foundation
import IntegerPrior
import Prior
import SafeTensors
import XCTest

/// The stage-conditional prior of a progressive model: Swift computes PyTorch's logits from a file
/// the trainer wrote (`Fixtures/parity/progressive*.safetensors`, written on purpose by
/// `python3 Tools/train_torch/make_stage_parity_fixture.py`), and the integer stage priors frozen
/// from it code PyTorch's symbols at the float rate.
extension ParityTests {
    struct StageFixture {
        var prior: ProgressivePrior
        var symbols: [[Int32]]      // per stage, [2, G_k, 5, 6]
        var logits: [[Float]]       // per stage, [2, G_k·K_k, 5, 6]
        static let shapes = [(1, 16), (2, 16), (4, 8)]
    }

    func loadStageFixture() throws -> StageFixture {
        let modelPath = Self.folder.appendingPathComponent("progressive.safetensors").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: modelPath), "missing fixture \(modelPath)")
        let model = try SafeTensorsFile(contentsOf: modelPath)
        let io = try SafeTensorsFile(contentsOf: Self.folder.appendingPathComponent("progressive-io.safetensors").path)
        let prior = try ProgressivePrior(file: model)
        var symbols: [[Int32]] = [], logits: [[Float]] = []
        for (k, (g, kk)) in StageFixture.shapes.enumerated() {
            symbols.append(try io.int32s("stage\(k + 1)_symbols", shape: [2, g, 5, 6]))
            logits.append(try io.floats("stage\(k + 1)_logits", shape: [2, g * kk, 5, 6]))
        }
        return StageFixture(prior: prior, symbols: symbols, logits: logits)
    }

    func testStagePriorLogitsMatchPyTorch() throws {
        let f = try loadStageFixture()
        XCTAssertEqual(f.prior.count, 3)
        XCTAssertEqual(f.prior.latentChannels, 8)
        XCTAssertEqual(f.prior.stages.map(\.configuration.conditionChannels), [0, 8, 8])
        for (k, (g, kk)) in StageFixture.shapes.enumerated() {
            let logits = f.prior.logits(stage: k + 1, symbols: f.symbols[k], earlier: Array(f.symbols[..<k]),
                                        batch: 2, height: 5, width: 6)
            XCTAssertEqual(logits.shape, [2, g * kk, 5, 6])
            assertClose(logits.data, f.logits[k], "stage \(k + 1) prior logits")
        }
        // The condition matters: stage 2 without it (zeros) is far from PyTorch's logits.
        let zeros = f.prior.stages[1].logits(symbols: f.symbols[1], condition: .init(zeros: [2, 8, 5, 6]),
                                             batch: 2, height: 5, width: 6)
        let gap = zip(zeros.data, f.logits[1]).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(gap, 0.1, "stage 2's logits barely depend on the earlier stage")
    }

    /// The integer stage priors frozen from the PyTorch-written file code the fixture's symbols
    /// (each batch element one tile) within 0.5 % of the float prior's rate, stage by stage.
    func testIntegerStagePriorsCodeNearTheFloatRate() throws {
        let f = try loadStageFixture()
        let frozen = f.prior.freeze()
        var report: [String] = []
        for (k, (g, _)) in StageFixture.shapes.enumerated() {
            var floatBits = 0.0, integerBits = 0.0
            for b in 0..<2 {
                func tile(_ j: Int) -> [Int32] {
                    let n = StageFixture.shapes[j].0 * 30
                    return Array(f.symbols[j][(b * n)..<((b + 1) * n)])
                }
                let earlier = (0..<k).map(tile)
                floatBits += f.prior.crossEntropyBits(stage: k + 1, symbols: tile(k), earlier: earlier, batch: 1, height: 5, width: 6)
                integerBits += frozen.bits(stage: k + 1, symbols: tile(k), earlier: earlier, height: 5, width: 6)
            }
            let change = (integerBits / floatBits - 1) * 100
            report.append(String(format: "stage %d: integer %.2f bits vs float %.2f bits (%+.3f%%, %d symbols)",
                                 k + 1, integerBits, floatBits, change, 2 * g * 30))
            XCTAssertEqual(integerBits / floatBits, 1, accuracy: 0.005, "stage \(k + 1)")
        }
        print("parity integer stage priors: " + report.joined(separator: "; "))
    }
}
