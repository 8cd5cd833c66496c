import Engine
import Foundation
import IntegerPrior
import SafeTensors

/// Derives the integer prior from the float prior's weights (`PixelCNNPrior.freeze()`).
///
/// Scales come from worst-case bounds computed from the weights alone, so no calibration data is
/// needed and no activation can ever be clamped by accident: every activation tensor x gets
/// per-channel scales σ with |x| ≤ σ·A (A = 8192), from |gate| ≤ 1, the embedding's largest
/// entries, and |Σ w·x + b| ≤ Σ|w|·bound(x) + |b| through the network. Each output channel's
/// weights and bias are then scaled by the largest factor that keeps Σ|w_q|·A + |b_q| below
/// 2^31 (and |w_q| within the weight type), which makes the Int32 accumulators overflow-free by
/// construction. Requantisation multipliers follow from the ratios of scales. `Formats/prior.md`
/// §4 describes the procedure; it runs once, and its results are stored, so the decoder never
/// repeats it (and libm differences between machines cannot matter).
struct PriorFreezer {
    let prior: PixelCNNPrior
    /// Largest weight magnitude: 32767 stores weights as I16, 127 as I8.
    let weightLimit: Int

    init(prior: PixelCNNPrior, weightBits: Int = 16) {
        precondition(weightBits == 8 || weightBits == 16, "weights are stored in 8 or 16 bits")
        self.prior = prior
        weightLimit = (1 << (weightBits - 1)) - 1
    }

    private static let limit = Double(IntegerFormat.activationLimit)
    private static let indexScale = 1 / Double(1 << IntegerFormat.lookupFractionBits)
    private static let logitScale = 1 / Double(1 << IntegerFormat.logitFractionBits)

    func freeze() -> IntegerPrior {
        let tensors = integerTensors(prefix: IntegerPrior.tensorPrefix, condition: nil)
        let metadata = [IntegerPrior.configurationKey: IntegerPrior.Header(configuration: prior.configuration).json()]
        do {
            return try IntegerPrior(metadata: metadata, tensors: tensors)
        } catch {
            preconditionFailure("freeze produced an invalid integer prior: \(error)")
        }
    }

    /// A stage prior's condition (the earlier stages' decoded latent c `[D, h, w]`) as the freezer
    /// sees it: the integer condition is c / `scale` per channel, |c[d]| ≤ `bound[d]`.
    struct Condition {
        let scale: [Double]
        let bound: [Double]
        /// Per block, `condition<b>.vertical` `[2C, D, 3, 3]` and `condition<b>.horizontal` `[2C, D]`.
        let vertical: [(weight: [Double], bias: [Double])]
        let horizontal: [(weight: [Double], bias: [Double])]
        var channels: Int { scale.count }
    }

    /// The integer network's tensors under `prefix` (`Formats/prior.md` §2), with a stage prior's
    /// condition weights (§6) folded into the stacks' accumulators when `condition` is given.
    func integerTensors(prefix: String, condition: Condition?) -> [String: StoredTensor] {
        let c = prior.configuration
        let f = prior.namePrefix
        let (g, k, e, ch, hk, kernel, head) = (c.groups, c.codebookSize, c.embeddingDimension, c.channels, c.reach,
                                              c.kernelSize, c.headChannels)
        let a = Self.limit
        var values: [String: [Double]] = [:]
        for parameter in prior.parameters { values[parameter.name] = parameter.value.data.map(Double.init) }
        func value(_ name: String) -> [Double] { values[name]! }
        var tensors: [String: StoredTensor] = [:]
        let p = prefix

        // Embedding: per-channel scale from the largest entry of each dimension.
        let table = value(f + "embedding.weight")
        var embeddingBound = [Double](repeating: 0, count: g * e)
        for group in 0..<g {
            for s in 0..<k {
                for d in 0..<e { embeddingBound[group * e + d] = max(embeddingBound[group * e + d], abs(table[(group * k + s) * e + d])) }
            }
        }
        let embeddingScale = embeddingBound.map { $0 > 0 ? $0 / a : 1 / a }
        var embedding = [Int16](repeating: 0, count: g * k * e)
        for group in 0..<g {
            for s in 0..<k {
                for d in 0..<e {
                    let index = (group * k + s) * e + d
                    embedding[index] = Int16((table[index] / embeddingScale[group * e + d]).rounded())
                }
            }
        }
        tensors[p + "embedding"] = StoredTensor(int16s: embedding, shape: [g, k, e])

        // Gates are in units of 1/A; the horizontal stack's residual stream has one per-channel
        // scale across blocks, from the bound after the last block.
        let gateScale = [Double](repeating: 1 / a, count: ch)
        let gateBound = [Double](repeating: 1, count: ch)
        var streamBound = [Double](repeating: 0, count: ch)
        let outputMasked: [[Double]] = (0..<c.blocks).map { b in
            let w = value(f + "block\(b).output.weight")
            return (0..<ch * ch).map { j in groupOf(j % ch, ch, g) <= groupOf(j / ch, ch, g) ? w[j] : 0 }
        }
        for b in 0..<c.blocks {
            let bias = value(f + "block\(b).output.bias")
            for o in 0..<ch {
                streamBound[o] += (0..<ch).reduce(0) { $0 + abs(outputMasked[b][o * ch + $1]) } + abs(bias[o])
            }
        }
        let streamScale = streamBound.map { $0 > 0 ? $0 / a : 1 / a }

        for b in 0..<c.blocks {
            let q = p + "block\(b)."
            let name = f + "block\(b)."
            let input = b == 0 ? g * e : ch
            let rows = b == 0 ? hk : hk + 1
            let (verticalInScale, verticalInBound) = b == 0 ? (embeddingScale, embeddingBound) : (gateScale, gateBound)
            let horizontalInScale = b == 0 ? embeddingScale : streamScale

            // Vertical: [2C, Cin, rows, k] → [2C, rows, k, Cin].
            let vw = value(name + "vertical.weight")
            var vb = value(name + "vertical.bias")
            let verticalWeights = transposed(vw, outputs: 2 * ch, inputs: input, taps: rows * kernel)
            let verticalInputScale = (0..<rows * kernel * input).map { verticalInScale[$0 % input] }
            var verticalParts = [(weights: verticalWeights, scales: verticalInputScale)]
            // A condition's 3 × 3 convolution: [2C, D, 3, 3] → [2C, 3, 3, D], its bias folded in.
            let conditionVertical = condition.map { transposed($0.vertical[b].weight, outputs: 2 * ch, inputs: $0.channels, taps: 9) }
            if let condition, let conditionVertical {
                verticalParts.append((conditionVertical, (0..<9 * condition.channels).map { condition.scale[$0 % condition.channels] }))
                vb = zip(vb, condition.vertical[b].bias).map { $0 + $1 }
            }
            let vertical = quantize(rows: 2 * ch, parts: verticalParts, bias: vb)
            var valueBound = [Double](repeating: 0, count: 2 * ch)
            for o in 0..<2 * ch {
                var sum = abs(vb[o])
                for j in 0..<rows * kernel * input { sum += abs(verticalWeights[o * rows * kernel * input + j]) * verticalInBound[j % input] }
                if let condition, let conditionVertical {
                    let n = 9 * condition.channels
                    for j in 0..<n { sum += abs(conditionVertical[o * n + j]) * condition.bound[j % condition.channels] }
                }
                valueBound[o] = sum
            }
            let valueScale = valueBound.map { $0 > 0 ? $0 / a : 1 / a }
            tensors[q + "vertical.weight"] = weightTensor(vertical.weights[0], shape: [2 * ch, rows, kernel, input])
            tensors[q + "vertical.bias"] = StoredTensor(int32s: vertical.bias, shape: [2 * ch])
            tensors[q + "vertical.index_rescale"] = rescaleTensor((0..<2 * ch).map { vertical.unit[$0] / Self.indexScale })
            tensors[q + "vertical.value_rescale"] = rescaleTensor((0..<2 * ch).map { vertical.unit[$0] / valueScale[$0] })
            if let condition {
                tensors[q + "condition.vertical.weight"] = weightTensor(vertical.weights[1], shape: [2 * ch, 3, 3, condition.channels])
            }

            // Horizontal: [2C, Cin, 1, reach + 1] → [2C, reach + 1, Cin], masked at the centre tap;
            // shares its accumulator with the link [2C, 2C].
            let hw = transposed(value(name + "horizontal.weight"), outputs: 2 * ch, inputs: input, taps: hk + 1)
            let taps = (hk + 1) * input
            let horizontalWeights = (0..<2 * ch * taps).map { j -> Double in
                let (o, t) = (j / taps, j % taps)
                guard t >= hk * input else { return hw[j] }
                let (og, ig) = (groupOf(o % ch, ch, g), groupOf(t - hk * input, input, g))
                return (b == 0 ? ig < og : ig <= og) ? hw[j] : 0
            }
            let horizontalInputScale = (0..<taps).map { horizontalInScale[$0 % input] }
            var horizontalParts = [(weights: horizontalWeights, scales: horizontalInputScale),
                                   (weights: value(name + "link.weight"), scales: valueScale)]
            var horizontalBias = value(name + "horizontal.bias")
            if let condition {  // the condition's 1 × 1 convolution, [2C, D], its bias folded in
                horizontalParts.append((condition.horizontal[b].weight, condition.scale))
                horizontalBias = zip(horizontalBias, condition.horizontal[b].bias).map { $0 + $1 }
            }
            let horizontal = quantize(rows: 2 * ch, parts: horizontalParts, bias: horizontalBias)
            tensors[q + "horizontal.weight"] = weightTensor(horizontal.weights[0], shape: [2 * ch, hk + 1, input])
            tensors[q + "link.weight"] = weightTensor(horizontal.weights[1], shape: [2 * ch, 2 * ch])
            tensors[q + "horizontal.bias"] = StoredTensor(int32s: horizontal.bias, shape: [2 * ch])
            tensors[q + "horizontal.index_rescale"] = rescaleTensor((0..<2 * ch).map { horizontal.unit[$0] / Self.indexScale })
            if let condition {
                tensors[q + "condition.horizontal.weight"] = weightTensor(horizontal.weights[2], shape: [2 * ch, condition.channels])
            }

            // Output: gates → residual stream.
            let output = quantize(rows: ch, parts: [(outputMasked[b], gateScale)], bias: value(name + "output.bias"))
            tensors[q + "output.weight"] = weightTensor(output.weights[0], shape: [ch, ch])
            tensors[q + "output.bias"] = StoredTensor(int32s: output.bias, shape: [ch])
            tensors[q + "output.rescale"] = rescaleTensor((0..<ch).map { output.unit[$0] / streamScale[$0] })
        }

        // Head: ReLU(stream) → hidden (ReLU) → logits in units of 1/32 nat.
        let hiddenW = value(f + "head.hidden.weight"), hiddenB = value(f + "head.hidden.bias")
        let hiddenMasked = (0..<head * ch).map { j in groupOf(j % ch, ch, g) <= groupOf(j / ch, head, g) ? hiddenW[j] : 0 }
        let hidden = quantize(rows: head, parts: [(hiddenMasked, streamScale)], bias: hiddenB)
        let hiddenBound = (0..<head).map { o in
            (0..<ch).reduce(abs(hiddenB[o])) { $0 + abs(hiddenMasked[o * ch + $1]) * streamBound[$1] }
        }
        let hiddenScale = hiddenBound.map { $0 > 0 ? $0 / a : 1 / a }
        tensors[p + "head.hidden.weight"] = weightTensor(hidden.weights[0], shape: [head, ch])
        tensors[p + "head.hidden.bias"] = StoredTensor(int32s: hidden.bias, shape: [head])
        tensors[p + "head.hidden.rescale"] = rescaleTensor((0..<head).map { hidden.unit[$0] / hiddenScale[$0] })

        let logitW = value(f + "head.logits.weight")
        let logitMasked = (0..<g * k * head).map { j in groupOf(j % head, head, g) <= groupOf(j / head, g * k, g) ? logitW[j] : 0 }
        let logits = quantize(rows: g * k, parts: [(logitMasked, hiddenScale)], bias: value(f + "head.logits.bias"))
        tensors[p + "head.logits.weight"] = weightTensor(logits.weights[0], shape: [g * k, head])
        tensors[p + "head.logits.bias"] = StoredTensor(int32s: logits.bias, shape: [g * k])
        tensors[p + "head.logits.rescale"] = rescaleTensor((0..<g * k).map { logits.unit[$0] / Self.logitScale })

        // Tables, computed once here with the host's libm and stored.
        let radius = Int(IntegerFormat.lookupRadius) << IntegerFormat.lookupFractionBits
        let one = Double(IntegerFormat.tableOne)
        let steps = (-radius...radius).map { Double($0) * Self.indexScale }
        tensors[p + "tanh"] = StoredTensor(int16s: steps.map { Int16((tanh($0) * one).rounded()) }, shape: [2 * radius + 1])
        tensors[p + "sigmoid"] = StoredTensor(int16s: steps.map { Int16((one / (1 + exp(-$0))).rounded()) },
                                              shape: [2 * radius + 1])
        var expTable: [Int32] = []
        let expOne = Double(1 << IntegerFormat.expFractionBits)
        repeat {
            expTable.append(Int32((expOne * exp(-Double(expTable.count) * Self.logitScale)).rounded()))
        } while expTable.last! > 0
        tensors[p + "exp"] = StoredTensor(int32s: expTable, shape: [expTable.count])
        return tensors
    }

    // MARK: Helpers

    /// `[outputs, inputs, taps]` (PyTorch's layout with the kernel flattened) → `[outputs, taps, inputs]`.
    private func transposed(_ w: [Double], outputs: Int, inputs: Int, taps: Int) -> [Double] {
        var out = [Double](repeating: 0, count: w.count)
        for o in 0..<outputs {
            for i in 0..<inputs {
                for t in 0..<taps { out[(o * taps + t) * inputs + i] = w[(o * inputs + i) * taps + t] }
            }
        }
        return out
    }

    /// Quantises the rows of one or more weight matrices that feed the same accumulators.
    /// `parts[j].scales[i]` is the float value of one unit of the input column i of part j. Each
    /// output row o gets a unit U_o (the float value of one accumulator unit), the smallest with
    /// Σ|w_q|·A + |b_q| ≤ 2^31 − 1 and |w_q| ≤ weightLimit.
    private func quantize(rows: Int, parts: [(weights: [Double], scales: [Double])], bias: [Double])
        -> (weights: [[Int16]], bias: [Int32], unit: [Double]) {
        let a = Self.limit
        var weights = parts.map { [Int16](repeating: 0, count: $0.weights.count) }
        var biases = [Int32](repeating: 0, count: rows)
        var units = [Double](repeating: 1, count: rows)
        let count = parts.reduce(0) { $0 + $1.scales.count }
        let budget = Double(IntegerFormat.accumulatorLimit) - 0.5 * Double(count) * a - 1
        for o in 0..<rows {
            var l1 = abs(bias[o]), largest = 0.0
            for part in parts {
                let n = part.scales.count
                for i in 0..<n {
                    let w = abs(part.weights[o * n + i] * part.scales[i])
                    l1 += w * a
                    largest = max(largest, w)
                }
            }
            var unit = max(l1 / budget, largest / Double(weightLimit))
            if unit == 0 { unit = 1 }
            while true {
                var sum = 0.0
                for (j, part) in parts.enumerated() {
                    let n = part.scales.count
                    for i in 0..<n {
                        let q = (part.weights[o * n + i] * part.scales[i] / unit).rounded()
                        weights[j][o * n + i] = Int16(q)
                        sum += abs(q) * a
                    }
                }
                let b = (bias[o] / unit).rounded()
                if sum + abs(b) <= Double(IntegerFormat.accumulatorLimit) {
                    biases[o] = Int32(b)
                    break
                }
                unit *= 1 + 1.0 / 1024
            }
            units[o] = unit
        }
        return (weights, biases, units)
    }

    private func weightTensor(_ values: [Int16], shape: [Int]) -> StoredTensor {
        weightLimit <= Int(Int8.max)
            ? StoredTensor(int8s: values.map { Int8($0) }, shape: shape)
            : StoredTensor(int16s: values, shape: shape)
    }

    /// `[n, 2]` (multiplier, shift) pairs with multiplier / 2^shift ≈ ratio, the multiplier in
    /// [2^30, 2^31) where the shift range allows.
    private func rescaleTensor(_ ratios: [Double]) -> StoredTensor {
        var pairs: [Int32] = []
        for ratio in ratios {
            precondition(ratio.isFinite && ratio >= 0, "rescale ratio \(ratio)")
            var shift = ratio > 0 ? 30 - Int(floor(log2(ratio))) : 62
            shift = min(max(shift, 1), 62)
            var multiplier = (ratio * pow(2, Double(shift))).rounded()
            if multiplier >= Double(IntegerFormat.multiplierLimit) {
                if shift > 1 { shift -= 1; multiplier = (ratio * pow(2, Double(shift))).rounded() }
                multiplier = min(multiplier, Double(IntegerFormat.multiplierLimit - 1))
            }
            pairs.append(Int32(multiplier))
            pairs.append(Int32(shift))
        }
        return StoredTensor(int32s: pairs, shape: [ratios.count, 2])
    }
}
