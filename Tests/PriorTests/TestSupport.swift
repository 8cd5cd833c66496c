import IntegerPrior
import SeededRandom
import Engine
import RangeCoder
import XCTest
@testable import Prior

/// The prior tests draw from the package's one seeded generator.
typealias TestRandom = SplitMix64

extension SplitMix64 {

    /// Uniformly random symbols `[count]` in 0..<k.
    mutating func symbols(_ count: Int, k: Int) -> [Int32] { (0..<count).map { _ in Int32(below(k)) } }
}

/// A small configuration for fast tests.
func smallConfiguration(groups: Int, codebookSize: Int = 24, blocks: Int = 2, kernelSize: Int = 3) -> PriorConfiguration {
    PriorConfiguration(groups: groups, codebookSize: codebookSize, embeddingDimension: 3, channels: 4 * groups,
                       blocks: blocks, kernelSize: kernelSize, headChannels: 3 * groups)
}

/// A randomly initialised float prior with its weights scaled up by `gain`, so that
/// pre-activations reach the saturated ends of tanh and sigmoid and the tables are far from
/// uniform (a fresh PyTorch-style initialisation gives nearly uniform tables).
func randomPrior(_ configuration: PriorConfiguration, seed: UInt64, gain: Float = 3) -> PixelCNNPrior {
    let prior = PixelCNNPrior(configuration: configuration, seed: seed)
    for parameter in prior.parameters where !parameter.name.hasPrefix("prior.embedding") {
        for i in parameter.value.data.indices { parameter.value.data[i] *= gain }
    }
    return prior
}

/// The cumulative counts of every table `forEachTable` builds, in coding order.
func batchTables(_ prior: IntegerPrior, _ symbols: [Int32], height: Int, width: Int) -> [[UInt32]] {
    var tables: [[UInt32]] = []
    prior.forEachTable(symbols: symbols, height: height, width: width) { _, table in tables.append(table.cumulative) }
    return tables
}

/// The cumulative counts of every table `decode` builds when the decoded symbols are `symbols`,
/// and the symbols `decode` returns.
func incrementalTables(_ prior: IntegerPrior, _ symbols: [Int32], height: Int, width: Int) -> ([[UInt32]], [Int32]) {
    var tables: [[UInt32]] = []
    let g = prior.groups
    var index = 0
    let decoded = prior.decode(height: height, width: width) { table in
        tables.append(table.cumulative)
        // Coding order: position p = index / G, group index % G.
        let (position, group) = (index / g, index % g)
        index += 1
        return Int(symbols[(group * height + position / width) * width + position % width])
    }
    return (tables, decoded)
}

/// Structured symbol maps `[n, G, h, w]` a PixelCNN can learn: group 0 follows its left and
/// upper neighbours with a little noise; every later group is a function of group 0 most of the time.
func structuredSymbols(batch n: Int, groups: Int, k: Int, height: Int, width: Int,
                       using random: inout TestRandom) -> [Int32] {
    var out = [Int32](repeating: 0, count: n * groups * height * width)
    for b in 0..<n {
        let base = b * groups * height * width
        for r in 0..<height {
            for c in 0..<width {
                let left = c > 0 ? Int(out[base + r * width + c - 1]) : random.below(k)
                let up = r > 0 ? Int(out[base + (r - 1) * width + c]) : left
                let noise = random.below(8) == 0 ? random.below(k) : random.below(2)
                out[base + r * width + c] = Int32(((left + up) / 2 + noise) % k)
                for g in 1..<groups {
                    let s0 = Int(out[base + r * width + c])
                    out[base + (g * height + r) * width + c] =
                        Int32(random.below(10) == 0 ? random.below(k) : (s0 * (g + 2) + g) % k)
                }
            }
        }
    }
    return out
}

/// Trains `prior` with Adam on fresh structured crops; returns the last step's bits per symbol.
@discardableResult
func train(_ prior: PixelCNNPrior, steps: Int, batch: Int, size: Int, learningRate: Float, using random: inout TestRandom) -> Float {
    let c = prior.configuration
    let adam = Adam(parameters: prior.parameters, learningRate: learningRate)
    var bits: Float = 0
    for _ in 0..<steps {
        let symbols = structuredSymbols(batch: batch, groups: c.groups, k: c.codebookSize, height: size, width: size,
                                        using: &random)
        for p in prior.parameters { p.zeroGradient() }
        bits = prior.trainStep(symbols: symbols, batch: batch, height: size, width: size)
        clipGradientNorm(prior.parameters, maxNorm: 1)
        adam.step()
    }
    return bits
}

/// One map `[G, h, w]` out of a batch `[n, G, h, w]`.
func map(_ symbols: [Int32], index: Int, groups: Int, height: Int, width: Int) -> [Int32] {
    let size = groups * height * width
    return Array(symbols[index * size..<(index + 1) * size])
}
