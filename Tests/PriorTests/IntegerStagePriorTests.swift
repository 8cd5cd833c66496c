import Dispatch
import Foundation
import IntegerPrior
import RangeCoder
import SafeTensors
import XCTest
import Engine
@testable import Prior

/// A progressive model file with random stage priors (weights scaled by `gain`, so tables are far
/// from uniform and the condition moves them) and random codebooks of shrinking magnitude, as
/// residual stages have. Stage 1 is never conditioned; later stages are when `conditioned`.
func randomProgressiveFile(latentChannels d: Int = 8, stages: [(groups: Int, codebookSize: Int)],
                           blocks: Int = 2, kernelSize: Int = 3, conditioned: Bool = true,
                           seed: UInt64, gain: Float = 3) -> SafeTensorsFile {
    var random = TestRandom(seed: seed)
    var tensors: [String: StoredTensor] = [:]
    var configurations: [StagePriorConfiguration] = []
    for (index, stage) in stages.enumerated() {
        let prior = PriorConfiguration(groups: stage.groups, codebookSize: stage.codebookSize, embeddingDimension: 3,
                                       channels: 4 * stage.groups, blocks: blocks, kernelSize: kernelSize,
                                       headChannels: 3 * stage.groups)
        let configuration = StagePriorConfiguration(prior: prior, conditionChannels: index > 0 && conditioned ? d : 0)
        configurations.append(configuration)
        let model = StageConditionalPrior(configuration: configuration, stage: index + 1, seed: random.next())
        for parameter in model.parameters where !parameter.name.hasSuffix("embedding.weight") {
            for i in parameter.value.data.indices { parameter.value.data[i] *= gain }
        }
        tensors.merge(SafeTensorsFile(parameters: model.parameters).tensors) { first, _ in first }
        let magnitude = Float(pow(0.3, Double(index)))
        let book = (0..<stage.codebookSize * d).map { _ in random.float(in: -magnitude...magnitude) }
        tensors[ProgressivePrior.codebookKey(index + 1)] = StoredTensor(floats: book, shape: [stage.groups, stage.codebookSize, d / stage.groups])
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let list = String(decoding: try! encoder.encode(configurations), as: UTF8.self)
    let stageList = stages.map { "[\($0.groups),\($0.codebookSize)]" }.joined(separator: ",")
    return SafeTensorsFile(metadata: [ProgressivePrior.configurationKey: list,
                                      ProgressivePrior.modelConfigurationKey: "{\"latentChannels\":\(d),\"stages\":[\(stageList)],\"stride\":8,\"width\":8}"],
                           tensors: tensors)
}

/// Random symbols of every stage, `[G_k, h, w]` each.
func randomStageSymbols(_ priors: IntegerStagePriors, height: Int, width: Int, using random: inout TestRandom) -> [[Int32]] {
    priors.configurations.map { random.symbols($0.groups * height * width, k: $0.codebookSize) }
}

/// Every table `forEachTable` builds for stage `stage`, in coding order.
func stageBatchTables(_ priors: IntegerStagePriors, stage: Int, _ symbols: [[Int32]], height: Int, width: Int) -> [[UInt32]] {
    var tables: [[UInt32]] = []
    priors.forEachTable(stage: stage, symbols: symbols[stage - 1], earlier: Array(symbols[..<(stage - 1)]),
                        height: height, width: width) { _, table in tables.append(table.cumulative) }
    return tables
}

/// The integer stage priors' coding contract, the condition's reach, and what a reader refuses.
final class IntegerStagePriorTests: XCTestCase {
    static let stages = [(groups: 1, codebookSize: 16), (groups: 2, codebookSize: 12), (groups: 4, codebookSize: 8)]

    func frozen(seed: UInt64 = 1, conditioned: Bool = true) throws -> (ProgressivePrior, IntegerStagePriors) {
        let float = try ProgressivePrior(file: randomProgressiveFile(stages: Self.stages, conditioned: conditioned, seed: seed))
        return (float, float.freeze())
    }

    func testEveryStageSurvivesTheRangeCoder() throws {
        let (_, priors) = try frozen()
        var random = TestRandom(seed: 2)
        for (h, w) in [(1, 1), (3, 7), (6, 5)] {
            let symbols = randomStageSymbols(priors, height: h, width: w, using: &random)
            for stage in 1...priors.count {
                let earlier = Array(symbols[..<(stage - 1)])
                var encoder = RangeEncoder()
                priors.forEachTable(stage: stage, symbols: symbols[stage - 1], earlier: earlier, height: h, width: w) { symbol, table in
                    encoder.encode(symbol: symbol, table: table)
                }
                let bytes = encoder.finish()
                var decoder = try RangeDecoder(bytes: bytes)
                let decoded = try priors.decode(stage: stage, height: h, width: w, earlier: earlier) { table in
                    try decoder.decode(table: table)
                }
                XCTAssertEqual(decoded, symbols[stage - 1], "stage \(stage), tile \(h)×\(w)")
            }
        }
    }

    func testIncrementalDecodeBuildsTheBatchTablesBitForBit() throws {
        var random = TestRandom(seed: 3)
        for (blocks, kernel) in [(1, 3), (2, 5)] {
            let file = randomProgressiveFile(stages: Self.stages, blocks: blocks, kernelSize: kernel, seed: random.next())
            let priors = try ProgressivePrior(file: file).freeze()
            for (h, w) in [(1, 1), (1, 7), (6, 1), (5, 9)] {
                let symbols = randomStageSymbols(priors, height: h, width: w, using: &random)
                for stage in 1...priors.count {
                    let batch = stageBatchTables(priors, stage: stage, symbols, height: h, width: w)
                    var incremental: [[UInt32]] = []
                    var index = 0
                    let g = priors.configuration(stage: stage).groups
                    let decoded = priors.decode(stage: stage, height: h, width: w, earlier: Array(symbols[..<(stage - 1)])) { table in
                        incremental.append(table.cumulative)
                        let (position, group) = (index / g, index % g)
                        index += 1
                        return Int(symbols[stage - 1][(group * h + position / w) * w + position % w])
                    }
                    XCTAssertEqual(decoded, symbols[stage - 1])
                    XCTAssertEqual(batch.count, g * h * w)
                    XCTAssertEqual(incremental, batch, "stage \(stage), \(blocks) blocks, k \(kernel), tile \(h)×\(w)")
                }
            }
        }
    }

    /// Stage 1 reads no earlier stage: it is the one-stage integer prior of the same weights,
    /// tensor for tensor and table for table.
    func testStageOneIsTheOneStageIntegerPriorOfTheSameWeights() throws {
        let (float, priors) = try frozen(seed: 4)
        let stage1 = float.stages[0]
        let plain = PixelCNNPrior(configuration: stage1.configuration.prior, seed: 99)
        XCTAssertEqual(plain.parameters.count, stage1.parameters.count)
        for (target, source) in zip(plain.parameters, stage1.parameters) {
            XCTAssertEqual(target.name, "prior." + source.name.dropFirst("prior.stage1.".count))
            target.value = source.value
        }
        let oneStage = plain.freeze()
        let stageTensors = priors.storedTensors().filter { $0.key.hasPrefix("prior_int.stage1.") }
        XCTAssertEqual(stageTensors.count, oneStage.storedTensors().count)
        for (key, tensor) in oneStage.storedTensors() {
            XCTAssertEqual(stageTensors["prior_int.stage1." + key.dropFirst("prior_int.".count)], tensor, key)
        }
        var random = TestRandom(seed: 5)
        let g = priors.configuration(stage: 1).groups
        let symbols = random.symbols(g * 6 * 7, k: priors.configuration(stage: 1).codebookSize)
        var tables: [[UInt32]] = []
        priors.forEachTable(stage: 1, symbols: symbols, earlier: [], height: 6, width: 7) { _, t in tables.append(t.cumulative) }
        XCTAssertEqual(tables, batchTables(oneStage, symbols, height: 6, width: 7))
    }

    /// Tiles of every stage coded on many threads at once (as the codec codes tiles) get the tables
    /// of one thread: the priors are shared and immutable, each call has its own scratch.
    func testTablesDoNotDependOnTheThreadsThatBuildThem() throws {
        let (_, priors) = try frozen(seed: 6)
        var random = TestRandom(seed: 7)
        let tiles = (0..<8).map { _ in randomStageSymbols(priors, height: 5, width: 6, using: &random) }
        let jobs = tiles.indices.flatMap { t in (1...priors.count).map { (t, $0) } }
        let sequential = jobs.map { t, stage in stageBatchTables(priors, stage: stage, tiles[t], height: 5, width: 6) }
        let results = TableSlots(count: jobs.count)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            let (t, stage) = jobs[i]
            results.store(i, stageBatchTables(priors, stage: stage, tiles[t], height: 5, width: 6))
        }
        XCTAssertEqual(results.all, sequential)
    }

    /// Changing one symbol of stage 1 changes stage 2's tables near it (the condition is read) and
    /// nowhere outside the receptive field of the condition: rows r0 − 1 … r0 + 1 + (B − 1)·q and
    /// columns c0 − 1 − (B − 1)·q … c0 + 1 + (B − 1)·q (the 3 × 3 condition kernel in every block,
    /// then each later block's vertical stack reaches q rows down and q columns aside, and its
    /// horizontal stack q columns right).
    func testTheConditionIsReadNearbyAndNowhereElse() throws {
        let (_, priors) = try frozen(seed: 8)
        var random = TestRandom(seed: 9)
        let (h, w, r0, c0) = (20, 24, 6, 6)
        let (blocks, q) = (2, 1)
        let symbols = randomStageSymbols(priors, height: h, width: w, using: &random)
        var changed = symbols
        changed[0][r0 * w + c0] = (changed[0][r0 * w + c0] + 5) % 16
        let before = stageBatchTables(priors, stage: 2, symbols, height: h, width: w)
        let after = stageBatchTables(priors, stage: 2, changed, height: h, width: w)
        let g = priors.configuration(stage: 2).groups
        let rows = (r0 - 1)...(r0 + 1 + (blocks - 1) * q)
        let columns = (c0 - 1 - (blocks - 1) * q)...(c0 + 1 + (blocks - 1) * q)
        var near = 0
        for r in 0..<h {
            for c in 0..<w {
                for group in 0..<g {
                    let index = (r * w + c) * g + group
                    if rows.contains(r) && columns.contains(c) {
                        if before[index] != after[index] { near += 1 }
                    } else {
                        XCTAssertEqual(before[index], after[index], "table (\(r), \(c), g\(group)) is outside the condition's reach")
                    }
                }
            }
        }
        XCTAssertGreaterThan(near, rows.count * columns.count * g / 2, "the condition barely reaches the tables")
        // The position itself, and stage 3 (which reads stage 1 too).
        XCTAssertNotEqual(before[(r0 * w + c0) * g], after[(r0 * w + c0) * g])
        XCTAssertNotEqual(stageBatchTables(priors, stage: 3, symbols, height: h, width: w),
                          stageBatchTables(priors, stage: 3, changed, height: h, width: w))
        // An unconditioned stage 2 ignores stage 1.
        let (_, plain) = try frozen(seed: 8, conditioned: false)
        XCTAssertEqual(stageBatchTables(plain, stage: 2, symbols, height: h, width: w),
                       stageBatchTables(plain, stage: 2, changed, height: h, width: w))
        XCTAssertTrue(plain.storedTensors().keys.allSatisfy { !$0.contains("condition") })
    }

    func testFreezeIsDeterministicAndRoundTripsThroughAFile() throws {
        let (float, priors) = try frozen(seed: 10)
        XCTAssertEqual(float.freeze().storedTensors(), priors.storedTensors())
        let file = SafeTensorsFile(metadata: priors.metadata, tensors: priors.storedTensors())
        let read = try IntegerStagePriors(file: try SafeTensorsFile(bytes: file.serialized()))
        XCTAssertEqual(read.storedTensors(), priors.storedTensors())
        XCTAssertEqual(read.configurations, priors.configurations)
        XCTAssertEqual(read.latentChannels, 8)
        XCTAssertEqual(Set(priors.storedTensors().keys.filter { $0.hasPrefix("prior_int.condition.") }),
                       ["prior_int.condition.stage1.codebook", "prior_int.condition.stage2.codebook"])
    }

    // MARK: Malformed files

    func assertRefused(_ change: (inout [String: StoredTensor], inout [String: String]) -> Void,
                       _ expected: PriorError, file: StaticString = #filePath, line: UInt = #line) throws {
        let (_, priors) = try frozen(seed: 11)
        var tensors = priors.storedTensors(), metadata = priors.metadata
        change(&tensors, &metadata)
        XCTAssertThrowsError(try IntegerStagePriors(file: SafeTensorsFile(metadata: metadata, tensors: tensors)),
                             file: file, line: line) { error in
            XCTAssertEqual(error as? PriorError, expected, file: file, line: line)
        }
    }

    func testMissingTensorsAreNamed() throws {
        for key in ["prior_int.condition.stage1.codebook", "prior_int.stage2.block1.condition.horizontal.weight",
                    "prior_int.stage3.block0.condition.vertical.weight", "prior_int.stage1.head.logits.bias"] {
            try assertRefused({ tensors, _ in tensors[key] = nil }, .tensor(.missingTensors([key])))
        }
        try assertRefused({ _, metadata in metadata["rvq.prior_int.config"] = nil }, .missingMetadata(key: "rvq.prior_int.config"))
    }

    func testWrongShapesAndUnknownTensorsAreNamed() throws {
        let key = "prior_int.stage2.block0.condition.vertical.weight"
        try assertRefused({ tensors, _ in
            tensors[key] = StoredTensor(int16s: [Int16](repeating: 0, count: 16 * 3 * 3 * 8), shape: [16, 8, 3, 3])
        }, .tensor(.shapeMismatch(key: key, expected: [16, 3, 3, 8], found: [16, 8, 3, 3])))
        let book = "prior_int.condition.stage2.codebook"
        try assertRefused({ tensors, _ in tensors[book] = StoredTensor(int32s: [Int32](repeating: 0, count: 96), shape: [2, 12, 4]) },
                          .tensor(.wrongDType(key: book, expected: [.i16], found: .i32)))
        try assertRefused({ tensors, _ in tensors[book] = StoredTensor(int16s: [Int16](repeating: 0, count: 96), shape: [12, 2, 4]) },
                          .tensor(.shapeMismatch(key: book, expected: [2, 12, 4], found: [12, 2, 4])))
        // Stage 3's codebook is read by no stage: a file may not carry it.
        let extra = "prior_int.condition.stage3.codebook"
        try assertRefused({ tensors, _ in tensors[extra] = StoredTensor(int16s: [Int16](repeating: 0, count: 64), shape: [4, 8, 2]) },
                          .tensor(.unexpectedTensors([extra])))
    }

    func testMaskViolationsAreNamed() throws {
        // Block 0's horizontal centre tap of output channel 0 (group 0) may not read input group 0.
        let key = "prior_int.stage3.block0.horizontal.weight"
        try assertRefused({ tensors, _ in
            var values = try! tensors[key]!.int16s()
            let centre = 1 * 12  // [2C, q + 1, G·E] with q = 1, G·E = 12: tap 1, input 0
            values[centre] = 1
            tensors[key] = StoredTensor(int16s: values, shape: tensors[key]!.shape)
        }, .invalidTensorValue(key: key, index: 12, found: 1, expected: "0 (the weight is masked by the autoregressive order)"))
    }

    func testAccumulatorAndConditionBudgetsAreEnforced() throws {
        // Condition weights share the vertical accumulator's budget: Σ|w|·8192 + |bias| ≤ 2^31 − 1.
        let key = "prior_int.stage2.block1.condition.vertical.weight"
        try assertRefused({ tensors, _ in
            var values = try! tensors[key]!.int16s()
            for i in 0..<9 { values[i] = 32767 }
            tensors[key] = StoredTensor(int16s: values, shape: tensors[key]!.shape)
        }, .invalidTensorValue(key: "prior_int.stage2.block1.vertical.weight", index: 0,
                               found: try budgetAfter(key: key, accumulator: "prior_int.stage2.block1.vertical.weight",
                                                      others: [], elements: 9, row: 0),
                               expected: "output channel 0 to satisfy Σ|w|·8192 + |bias| ≤ 2^31 − 1"))
        // Codebooks: the sum of the largest magnitudes per latent channel must stay within ±8192.
        let book = "prior_int.condition.stage2.codebook"
        let (_, priors) = try frozen(seed: 11)
        let first = try priors.storedTensors()["prior_int.condition.stage1.codebook"]!.int16s()
        let reach1 = (0..<16).map { abs(Int64(first[$0 * 8])) }.max()!  // latent channel 0, stage 1 (G 1, K 16, d 8)
        try assertRefused({ tensors, _ in
            var values = try! tensors[book]!.int16s()
            values[0] = 8192  // group 0, code 0, channel 0
            tensors[book] = StoredTensor(int16s: values, shape: [2, 12, 4])
        }, .invalidTensorValue(key: book, index: 0, found: reach1 + 8192,
                               expected: "latent channel 0 to satisfy Σ_j max|codebook_j| ≤ 8192 over stages 1…2"))
    }

    /// Σ|w|·8192 + |bias| of output channel `row` of `accumulator` once the first `elements`
    /// weights of row `row` of `key` are 32767 (the other parts unchanged).
    private func budgetAfter(key: String, accumulator: String, others: [String], elements: Int, row: Int) throws -> Int64 {
        let (_, priors) = try frozen(seed: 11)
        let t = priors.storedTensors()
        let bias = try t[accumulator.replacingOccurrences(of: ".weight", with: ".bias")]!.int32s()
        func rowSum(_ k: String) throws -> Int64 {
            let v = try t[k]!.int16s()
            let n = v.count / bias.count
            return (0..<n).reduce(0) { $0 + abs(Int64(v[row * n + $1])) }
        }
        let condition = try t[key]!.int16s()
        let n = condition.count / bias.count
        var changed = (0..<n).reduce(Int64(0)) { $0 + ($1 < elements ? 32767 : abs(Int64(condition[row * n + $1]))) }
        changed += try rowSum(accumulator)
        for other in others { changed += try rowSum(other) }
        return changed * 8192 + abs(Int64(bias[row]))
    }

    /// The float loader treats the file as untrusted too: a forged stage configuration is refused
    /// before the prior is built, and stage shapes must agree with `rvq.config`.
    func testFloatStagePriorsRefuseForgedOrInconsistentConfigurations() throws {
        var file = randomProgressiveFile(stages: Self.stages, seed: 12)
        let list = file.metadata[ProgressivePrior.configurationKey]!
        let stored = file.tensors.filter { $0.key.hasPrefix("prior.stage2.") }.values.reduce(0) { $0 + $1.elementCount }
        file.metadata[ProgressivePrior.configurationKey] = list.replacingOccurrences(of: "\"channels\":8,", with: "\"channels\":4096,")
        let forged = StagePriorConfiguration(prior: PriorConfiguration(groups: 2, codebookSize: 12, embeddingDimension: 3,
                                                                       channels: 4096, blocks: 2, kernelSize: 3, headChannels: 6),
                                             conditionChannels: 8)
        let needed = forged.prior.minimumStoredValues + 2 * 2 * 4096 * 8 * 10
        XCTAssertThrowsError(try ProgressivePrior(file: file)) { error in
            XCTAssertEqual(error as? PriorError, .configurationExceedsWeights(key: "rvq.prior.config", needed: needed, found: stored))
        }
        file.metadata[ProgressivePrior.configurationKey] = list
        file.metadata[ProgressivePrior.modelConfigurationKey] = "{\"latentChannels\":8,\"stages\":[[1,16],[2,16],[4,8]]}"
        XCTAssertThrowsError(try ProgressivePrior(file: file)) { error in
            XCTAssertEqual(error as? PriorError, .malformedMetadata(
                key: "rvq.prior.config", reason: "stage 2's prior models 2 groups of 12 symbols, but rvq.config says [2, 16]"))
        }
        file.metadata[ProgressivePrior.modelConfigurationKey] = "{\"latentChannels\":8,\"stages\":[[1,16],[2,12],[4,8]]}"
        file.tensors["quantizer.stage2.codebook"] = nil
        XCTAssertThrowsError(try ProgressivePrior(file: file)) { error in
            XCTAssertEqual(error as? PriorError, .tensor(.missingTensors(["quantizer.stage2.codebook"])))
        }
    }

    func testConfigurationsOutOfRangeAreRefused() throws {
        func header(_ edit: @escaping (inout [[String: Any]]) -> Void) -> (inout [String: StoredTensor], inout [String: String]) -> Void {
            { _, metadata in
                var object = try! JSONSerialization.jsonObject(with: Data(metadata["rvq.prior_int.config"]!.utf8)) as! [String: Any]
                var stages = object["stages"] as! [[String: Any]]
                edit(&stages)
                object["stages"] = stages
                metadata["rvq.prior_int.config"] = String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            }
        }
        try assertRefused(header { $0[0]["conditionChannels"] = 8 },
                          .invalidConfiguration(field: "stage 1 conditionChannels", value: 8,
                                                expected: "0 (the first stage reads no earlier stage)"))
        try assertRefused(header { $0[1]["conditionChannels"] = 4 },
                          .invalidConfiguration(field: "stage 2 conditionChannels", value: 4, expected: "0 or latentChannels (8)"))
    }
}

private final class TableSlots: @unchecked Sendable {
    private var slots: [[[UInt32]]]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: [], count: count) }
    func store(_ index: Int, _ tables: [[UInt32]]) { lock.lock(); slots[index] = tables; lock.unlock() }
    var all: [[[UInt32]]] { lock.lock(); defer { lock.unlock() }; return slots }
}
