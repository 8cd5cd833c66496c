import Foundation
import RangeCoder
import SafeTensors

/// The prior the codec codes with: a fixed-point version of `PixelCNNPrior` whose every table is
/// computed with integer arithmetic only, so the encoder (batch, `forEachTable`) and the decoder
/// (one position at a time, `decode`) build bit-identical frequency tables on every machine
/// (docs/design.md §3). `Formats/prior.md` specifies the arithmetic byte for byte.
///
/// Summary: Int16 activations in −8192…8192 and Int16 (or Int8) weights with per-output-channel
/// scales; Int32 accumulation that cannot overflow (every accepted file satisfies
/// Σ|w|·8192 + |bias| < 2^31 per output channel); requantisation `(acc·M + 2^(R−1)) >> R` in
/// Int64 with per-channel M and R; tanh, sigmoid and exp through tables stored in the file;
/// softmax as `exp[min(max − logit, last)]` weights quantised by `FrequencyTable(weights:)`.
///
/// Model file: tensors `prior_int.*` (I8, I16, I32) and metadata `prior_int.config`.
public struct IntegerPrior: Sendable {
    /// The architecture (the same fields as the float prior it was frozen from).
    public let configuration: PriorConfiguration
    let tensors: [String: StoredTensor]
    let network: IntegerNetwork

    /// Key prefix of the integer prior's tensors in a model file.
    public static let tensorPrefix = "prior_int."
    /// Metadata key holding the integer prior's JSON configuration (format version + architecture).
    public static let configurationKey = "prior_int.config"

    /// G: symbols coded per position.
    public var groups: Int { configuration.groups }
    /// K: alphabet size of every table.
    public var codebookSize: Int { configuration.codebookSize }

    /// Reads and validates the integer prior of a model file: its configuration, every tensor's
    /// dtype and shape, and every value the format constrains (table ranges, rescale ranges,
    /// masked weights equal to 0, accumulator bounds). Other tensors in the file are ignored;
    /// unknown `prior_int.*` tensors are refused.
    public init(file: SafeTensorsFile) throws(PriorError) {
        try self.init(metadata: file.metadata, tensors: file.tensors)
    }

    /// The integer prior's tensors, keyed by name (all I8, I16 or I32).
    public func storedTensors() -> [String: StoredTensor] { tensors }

    /// Metadata entries of the integer prior: `prior_int.config`.
    public var metadata: [String: String] {
        [Self.configurationKey: Header(configuration: configuration).json()]
    }

    /// The JSON of `prior_int.config`.
    package struct Header: Codable, Equatable, VersionedHeader {
        package var format: Int
        var groups: Int
        var codebookSize: Int
        var embeddingDimension: Int
        var channels: Int
        var blocks: Int
        var kernelSize: Int
        var headChannels: Int

        package init(configuration c: PriorConfiguration) {
            format = IntegerFormat.version
            groups = c.groups
            codebookSize = c.codebookSize
            embeddingDimension = c.embeddingDimension
            channels = c.channels
            blocks = c.blocks
            kernelSize = c.kernelSize
            headChannels = c.headChannels
        }

        var configuration: PriorConfiguration {
            PriorConfiguration(groups: groups, codebookSize: codebookSize, embeddingDimension: embeddingDimension,
                               channels: channels, blocks: blocks, kernelSize: kernelSize, headChannels: headChannels)
        }

        package func json() -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: try! encoder.encode(self), as: UTF8.self)
        }
    }

    package init(metadata: [String: String], tensors allTensors: [String: StoredTensor]) throws(PriorError) {
        let key = Self.configurationKey
        let header = try IntegerFormat.header(metadata, key: key, as: Header.self)
        let configuration = header.configuration
        try configuration.validate()
        let tensors = allTensors.filter { $0.key.hasPrefix(Self.tensorPrefix) }
        var reader = TensorReader(tensors: tensors, configuration: configuration, prefix: Self.tensorPrefix)
        let network = try reader.read()
        let unused = Set(tensors.keys).subtracting(reader.used)
        if !unused.isEmpty {
            throw .tensor(.unexpectedTensors(unused.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }))
        }
        self.configuration = configuration
        self.tensors = tensors
        self.network = network
    }
}

/// Reads and validates the tensors of one integer network (`prefix` + the names of
/// `Formats/prior.md` §2: `prior_int.` for the one-stage prior, `prior_int.stage<k>.` for a stage
/// prior, which adds its condition weights when `conditionChannels` > 0), remembering which keys
/// it used.
struct TensorReader {
    let tensors: [String: StoredTensor]
    let configuration: PriorConfiguration
    let prefix: String
    let conditionChannels: Int
    private(set) var used: Set<String> = []

    init(tensors: [String: StoredTensor], configuration: PriorConfiguration, prefix: String, conditionChannels: Int = 0) {
        self.tensors = tensors
        self.configuration = configuration
        self.prefix = prefix
        self.conditionChannels = conditionChannels
    }

    private static let limit = Int64(IntegerFormat.activationLimit)

    mutating func read() throws(PriorError) -> IntegerNetwork {
        let c = configuration
        let (g, k, e, ch, hk, kernel, head) = (c.groups, c.codebookSize, c.embeddingDimension, c.channels, c.reach,
                                              c.kernelSize, c.headChannels)
        let p = prefix
        let limit = Self.limit
        let d = conditionChannels
        let one = Int64(IntegerFormat.tableOne)

        let embedding = try int16s(p + "embedding", shape: [g, k, e], weight: false)
        try check(p + "embedding", embedding.map(Int64.init), "in −\(limit)…\(limit)") { abs($0) <= limit }

        let tanhTable = try int16s(p + "tanh", shape: nil, weight: false)
        guard tanhTable.count % 2 == 1, tanhTable.count >= 3, tanhTable.count <= (1 << 20) + 1 else {
            throw .tensor(.shapeMismatch(key: p + "tanh", expected: [2 * 2048 + 1], found: [tanhTable.count]))
        }
        try check(p + "tanh", tanhTable.map(Int64.init), "in −\(one)…\(one)") { abs($0) <= one }
        let sigmoidTable = try int16s(p + "sigmoid", shape: [tanhTable.count], weight: false)
        try check(p + "sigmoid", sigmoidTable.map(Int64.init), "in 0…\(one)") { $0 >= 0 && $0 <= one }
        let expTable = try int32s(p + "exp", shape: nil)
        guard !expTable.isEmpty, expTable.count <= 1 << 20 else {
            throw .tensor(.shapeMismatch(key: p + "exp", expected: [1 << 20], found: [expTable.count]))
        }
        try check(p + "exp", expTable.map(Int64.init), "in 0…\(IntegerFormat.expEntryLimit)") { $0 >= 0 }
        try check(p + "exp", [Int64(expTable[0])], "at least 1 (the most likely symbol needs weight)") { $0 >= 1 }

        var blocks: [IntegerNetwork.BlockTensors] = []
        for b in 0..<c.blocks {
            let q = p + "block\(b)."
            let input = b == 0 ? g * e : ch
            let rows = b == 0 ? hk : hk + 1
            let vertical = try int16s(q + "vertical.weight", shape: [2 * ch, rows, kernel, input], weight: true)
            let verticalBias = try int32s(q + "vertical.bias", shape: [2 * ch])
            // A stage prior's condition convolutions share the stacks' accumulators (and budgets).
            let conditionVertical = try d > 0 ? int16s(q + "condition.vertical.weight", shape: [2 * ch, 3, 3, d], weight: true) : []
            let conditionHorizontal = try d > 0 ? int16s(q + "condition.horizontal.weight", shape: [2 * ch, d], weight: true) : []
            try checkBudget(q + "vertical.weight", rows: 2 * ch, weights: [vertical] + (d > 0 ? [conditionVertical] : []),
                            bias: verticalBias)
            let verticalIndex = try rescale(q + "vertical.index_rescale", channels: 2 * ch)
            let verticalValue = try rescale(q + "vertical.value_rescale", channels: 2 * ch)
            let horizontal = try int16s(q + "horizontal.weight", shape: [2 * ch, hk + 1, input], weight: true)
            try checkMask(q + "horizontal.weight", horizontal, rows: 2 * ch, columns: (hk + 1) * input) { o, j in
                // Only the centre tap (the last input position) is masked.
                j < hk * input || (b == 0 ? groupOf(j - hk * input, input, g) < groupOf(o % ch, ch, g)
                                          : groupOf(j - hk * input, input, g) <= groupOf(o % ch, ch, g))
            }
            let link = try int16s(q + "link.weight", shape: [2 * ch, 2 * ch], weight: true)
            let horizontalBias = try int32s(q + "horizontal.bias", shape: [2 * ch])
            try checkBudget(q + "horizontal.weight", rows: 2 * ch,
                            weights: [horizontal, link] + (d > 0 ? [conditionHorizontal] : []), bias: horizontalBias)
            let horizontalIndex = try rescale(q + "horizontal.index_rescale", channels: 2 * ch)
            let output = try int16s(q + "output.weight", shape: [ch, ch], weight: true)
            try checkMask(q + "output.weight", output, rows: ch, columns: ch) { o, i in groupOf(i, ch, g) <= groupOf(o, ch, g) }
            let outputBias = try int32s(q + "output.bias", shape: [ch])
            try checkBudget(q + "output.weight", rows: ch, weights: [output], bias: outputBias)
            let outputRescale = try rescale(q + "output.rescale", channels: ch)
            blocks.append(.init(vertical: vertical, verticalBias: verticalBias, verticalIndex: verticalIndex,
                                verticalValue: verticalValue, horizontal: horizontal, link: link,
                                horizontalBias: horizontalBias, horizontalIndex: horizontalIndex, output: output,
                                outputBias: outputBias, outputRescale: outputRescale,
                                conditionVertical: conditionVertical, conditionHorizontal: conditionHorizontal))
        }

        let hiddenWeight = try int16s(p + "head.hidden.weight", shape: [head, ch], weight: true)
        try checkMask(p + "head.hidden.weight", hiddenWeight, rows: head, columns: ch) { o, i in
            groupOf(i, ch, g) <= groupOf(o, head, g)
        }
        let hiddenBias = try int32s(p + "head.hidden.bias", shape: [head])
        try checkBudget(p + "head.hidden.weight", rows: head, weights: [hiddenWeight], bias: hiddenBias)
        let hiddenRescale = try rescale(p + "head.hidden.rescale", channels: head)

        let logitWeight = try int16s(p + "head.logits.weight", shape: [g * k, head], weight: true)
        try checkMask(p + "head.logits.weight", logitWeight, rows: g * k, columns: head) { o, i in
            groupOf(i, head, g) <= groupOf(o, g * k, g)
        }
        let logitBias = try int32s(p + "head.logits.bias", shape: [g * k])
        try checkBudget(p + "head.logits.weight", rows: g * k, weights: [logitWeight], bias: logitBias)
        let logitRescale = try rescale(p + "head.logits.rescale", channels: g * k)

        return IntegerNetwork(configuration: c, conditionChannels: d, embedding: embedding, blocks: blocks,
                              hidden: (hiddenWeight, hiddenBias, hiddenRescale),
                              logits: (logitWeight, logitBias, logitRescale),
                              tanhTable: tanhTable, sigmoidTable: sigmoidTable, expTable: expTable)
    }

    // MARK: Typed access

    private mutating func tensor(_ key: String, shape: [Int]?, dtypes: [DType]) throws(PriorError) -> StoredTensor {
        guard let tensor = tensors[key] else { throw .tensor(.missingTensors([key])) }
        used.insert(key)
        guard dtypes.contains(tensor.dtype) else { throw .tensor(.wrongDType(key: key, expected: dtypes, found: tensor.dtype)) }
        if let shape, tensor.shape != shape { throw .tensor(.shapeMismatch(key: key, expected: shape, found: tensor.shape)) }
        if shape == nil && tensor.shape.count != 1 {
            throw .tensor(.shapeMismatch(key: key, expected: [tensor.elementCount], found: tensor.shape))
        }
        return tensor
    }

    /// I16 (weights may also be I8, widened exactly).
    private mutating func int16s(_ key: String, shape: [Int]?, weight: Bool) throws(PriorError) -> [Int16] {
        let t = try tensor(key, shape: shape, dtypes: weight ? [.i16, .i8] : [.i16])
        do { return try t.int16s() } catch { throw .tensor(error) }
    }

    private mutating func int32s(_ key: String, shape: [Int]?) throws(PriorError) -> [Int32] {
        let t = try tensor(key, shape: shape, dtypes: [.i32])
        do { return try t.int32s() } catch { throw .tensor(error) }
    }

    /// `[channels, 2]` (multiplier, shift) pairs, checked and widened to Int64.
    private mutating func rescale(_ key: String, channels: Int) throws(PriorError) -> [Int64] {
        let values = try int32s(key, shape: [channels, 2]).map(Int64.init)
        for (index, value) in values.enumerated() {
            if index % 2 == 0, !(0..<IntegerFormat.multiplierLimit).contains(value) {
                throw .invalidTensorValue(key: key, index: index, found: value, expected: "a multiplier in 0…2^31 − 1")
            }
            if index % 2 == 1, !IntegerFormat.shiftRange.contains(value) {
                throw .invalidTensorValue(key: key, index: index, found: value, expected: "a shift in 1…62")
            }
        }
        return values
    }

    // MARK: Value checks

    private func check(_ key: String, _ values: [Int64], _ expected: String, _ valid: (Int64) -> Bool) throws(PriorError) {
        for (index, value) in values.enumerated() where !valid(value) {
            throw .invalidTensorValue(key: key, index: index, found: value, expected: expected)
        }
    }

    /// Masked-out weights (where `allowed(row, column)` is false) must be 0.
    private func checkMask(_ key: String, _ weights: [Int16], rows: Int, columns: Int,
                           allowed: (Int, Int) -> Bool) throws(PriorError) {
        for o in 0..<rows {
            for i in 0..<columns where weights[o * columns + i] != 0 && !allowed(o, i) {
                throw .invalidTensorValue(key: key, index: o * columns + i, found: Int64(weights[o * columns + i]),
                                          expected: "0 (the weight is masked by the autoregressive order)")
            }
        }
    }

    /// Σ|w| · A + |bias| ≤ 2^31 − 1 for every output channel: no accumulator can overflow.
    private func checkBudget(_ key: String, rows: Int, weights: [[Int16]], bias: [Int32]) throws(PriorError) {
        for o in 0..<rows {
            var sum: Int64 = 0
            for w in weights {
                let n = w.count / rows
                for i in 0..<n { sum += Int64(abs(Int32(w[o * n + i]))) }
            }
            let total = sum * Self.limit + abs(Int64(bias[o]))
            if total > IntegerFormat.accumulatorLimit {
                throw .invalidTensorValue(key: key, index: o, found: total,
                                          expected: "output channel \(o) to satisfy Σ|w|·\(Self.limit) + |bias| ≤ 2^31 − 1")
            }
        }
    }
}

/// Group of `index` when `count` channels split into `groups` contiguous equal blocks.
@inline(__always)
package func groupOf(_ index: Int, _ count: Int, _ groups: Int) -> Int { index / (count / groups) }
