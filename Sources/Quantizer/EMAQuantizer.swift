import Engine
import SeededRandom

/// Training-time vector quantiser: nearest-code assignment with straight-through gradients,
/// a commitment term, and codebooks learned by exponential moving averages (van den Oord et al.
/// 2017, appendix; Razavi et al. 2019), which decouples the codebook's learning rate from β.
///
/// Codebook collapse is fought three ways (docs/design.md §2): data-based initialisation from the first
/// batch of encoder outputs; restarts of dead codes (EMA count below `deadCodeThreshold`, or, when
/// `restartPatience > 0`, not chosen by any vector for that many steps in a row) onto encoder
/// outputs of the current batch, drawn with probability proportional to their squared
/// quantisation error (k-means++ seeding), so restarts go where the data is served worst; and
/// per-group usage statistics at every step.
///
/// The patience rule acts within tens of steps, where the EMA count of an abandoned code takes
/// hundreds of steps to decay (0.99^230 ≈ 0.1): early in training, while the encoder's output
/// distribution moves fast, most codes can fall idle at once, and waiting for the EMA wastes them.
public final class EMAQuantizer {
    public private(set) var codebooks: Codebooks
    /// EMA of how many vectors chose each code, `[groups * codebookSize]`.
    public private(set) var clusterSize: [Float]
    /// EMA of the sum of vectors that chose each code, same layout as `codebooks.vectors`.
    public private(set) var clusterSum: [Float]
    public let decay: Float
    public let commitment: Float
    public let deadCodeThreshold: Float
    /// Steps a code may go unchosen before it is restarted; 0 disables the rule.
    public let restartPatience: Int
    /// Per code `[groups * codebookSize]`: training steps since any vector chose it.
    public private(set) var stepsUnused: [Int]
    public private(set) var initialised: Bool
    private var rng: SplitMix64

    /// - Parameters:
    ///   - decay: EMA decay γ (≈ 0.99).
    ///   - commitment: β, the weight of ‖L − sg(L̂)‖² (≈ 0.25).
    ///   - deadCodeThreshold: EMA count below which a code is restarted.
    ///   - restartPatience: steps without being chosen after which a code is restarted (0: never).
    public init(groups: Int, codebookSize: Int, dimension: Int, decay: Float = 0.99,
                commitment: Float = 0.25, deadCodeThreshold: Float = 0.03, restartPatience: Int = 0, seed: UInt64 = 0) {
        precondition(restartPatience >= 0, "restartPatience must be ≥ 0")
        codebooks = Codebooks(groups: groups, codebookSize: codebookSize, dimension: dimension,
                              vectors: [Float](repeating: 0, count: groups * codebookSize * dimension))
        clusterSize = [Float](repeating: 0, count: groups * codebookSize)
        clusterSum = [Float](repeating: 0, count: groups * codebookSize * dimension)
        self.decay = decay
        self.commitment = commitment
        self.deadCodeThreshold = deadCodeThreshold
        self.restartPatience = restartPatience
        stepsUnused = [Int](repeating: 0, count: groups * codebookSize)
        self.initialised = false
        self.rng = SplitMix64(seed: seed)
    }

    /// Restarts the random stream behind initialisation and dead-code restarts from `seed`. A
    /// trainer that reseeds before every step from (run seed, step number) makes the stream a
    /// function of the step, so a run resumed from a checkpoint continues exactly.
    public func reseed(_ seed: UInt64) {
        rng = SplitMix64(seed: seed)
    }

    /// Restores trained codebooks without EMA statistics (a model file written for coding): each
    /// code counts as seen once, at its own position, so further training moves it smoothly.
    public func restore(codebooks: Codebooks) {
        let k = codebooks.groups * codebooks.codebookSize
        restore(codebooks: codebooks, clusterSize: [Float](repeating: 1, count: k), clusterSum: codebooks.vectors)
    }

    /// Restores a trained state (codebooks, EMA statistics and, when known, steps unused per code).
    public func restore(codebooks: Codebooks, clusterSize: [Float], clusterSum: [Float], stepsUnused: [Int]? = nil) {
        precondition(codebooks.groups == self.codebooks.groups && codebooks.codebookSize == self.codebooks.codebookSize
                     && codebooks.dimension == self.codebooks.dimension)
        precondition(clusterSize.count == self.clusterSize.count && clusterSum.count == self.clusterSum.count)
        self.codebooks = codebooks
        self.clusterSize = clusterSize
        self.clusterSum = clusterSum
        if let stepsUnused {
            precondition(stepsUnused.count == self.stepsUnused.count && stepsUnused.allSatisfy { $0 >= 0 })
            self.stepsUnused = stepsUnused
        } else {
            self.stepsUnused = [Int](repeating: 0, count: self.stepsUnused.count)
        }
        initialised = true
    }

    /// Result of one training step's quantisation.
    public struct Step {
        /// L̂, the codebook vectors of the chosen symbols, `[N, G*d, h, w]`.
        public var quantized: Tensor
        /// `[N, G, h, w]`.
        public var symbols: [Int32]
        /// β · mean ‖L − L̂‖² over all latent components.
        public var commitmentLoss: Float
        public var usage: CodebookUsage
    }

    /// Quantises `latent` and, when `training`, updates the codebooks by EMA (after a data-based
    /// initialisation on the first call) and restarts dead codes.
    public func quantize(_ latent: Tensor, training: Bool) -> Step {
        let (n, h, w) = (latent.shape[0], latent.shape[2], latent.shape[3])
        if training && !initialised { initialise(from: latent) }
        let symbols = codebooks.nearestSymbols(latent: latent)
        let quantized = codebooks.latent(symbols: symbols, batch: n, height: h, width: w)
        if training { updateCodebooks(latent: latent, symbols: symbols) }
        var squared: Double = 0
        for i in latent.data.indices { let d = Double(latent.data[i] - quantized.data[i]); squared += d * d }
        let loss = commitment * Float(squared / Double(latent.count))
        let usage = CodebookUsage(symbols: symbols, groups: codebooks.groups, plane: h * w,
                                  codebookSize: codebooks.codebookSize)
        return Step(quantized: quantized, symbols: symbols, commitmentLoss: loss, usage: usage)
    }

    /// Gradient with respect to the encoder output L: the decoder's gradient at L̂ passed straight
    /// through, plus the commitment term's 2β(L − L̂)/count.
    public func latentGradient(latent: Tensor, quantized: Tensor, quantizedGradient: Tensor) -> Tensor {
        var g = quantizedGradient
        let scale = 2 * commitment / Float(latent.count)
        for i in g.data.indices { g.data[i] += scale * (latent.data[i] - quantized.data[i]) }
        return g
    }

    // MARK: - Codebook learning

    /// Vectors of group `g` at every position of the batch, `[count][d]` flattened.
    private func groupVectors(_ latent: Tensor, group g: Int) -> [Float] {
        let d = codebooks.dimension, c = codebooks.channels
        let (n, plane) = (latent.shape[0], latent.shape[2] * latent.shape[3])
        var out = [Float](repeating: 0, count: n * plane * d)
        for b in 0..<n {
            for i in 0..<d {
                let src = (b * c + g * d + i) * plane
                for p in 0..<plane { out[(b * plane + p) * d + i] = latent.data[src + p] }
            }
        }
        return out
    }

    /// Codes start as encoder outputs of the first batch, picked at random (with a little noise
    /// when the batch has fewer vectors than codes), so every code starts where the data is.
    private func initialise(from latent: Tensor) {
        let (d, k) = (codebooks.dimension, codebooks.codebookSize)
        for g in 0..<codebooks.groups {
            let vectors = groupVectors(latent, group: g)
            let count = vectors.count / d
            for code in 0..<k {
                let pick = Int(rng.next() % UInt64(count))
                for i in 0..<d {
                    let noise = code < count ? 0 : Float(rng.nextUniform() - 0.5) * 0.01
                    let v = vectors[pick * d + i] + noise
                    codebooks.vectors[(g * k + code) * d + i] = v
                    clusterSum[(g * k + code) * d + i] = v
                }
                clusterSize[g * k + code] = 1
            }
        }
        initialised = true
    }

    private func updateCodebooks(latent: Tensor, symbols: [Int32]) {
        let (d, k, groups) = (codebooks.dimension, codebooks.codebookSize, codebooks.groups)
        let plane = latent.shape[2] * latent.shape[3]
        for g in 0..<groups {
            let vectors = groupVectors(latent, group: g)
            let count = vectors.count / d
            var counts = [Float](repeating: 0, count: k)
            var sums = [Float](repeating: 0, count: k * d)
            for v in 0..<count {
                let (b, p) = (v / plane, v % plane)
                let s = Int(symbols[(b * groups + g) * plane + p])
                counts[s] += 1
                for i in 0..<d { sums[s * d + i] += vectors[v * d + i] }
            }
            for code in 0..<k {
                let j = g * k + code
                clusterSize[j] = decay * clusterSize[j] + (1 - decay) * counts[code]
                for i in 0..<d {
                    clusterSum[j * d + i] = decay * clusterSum[j * d + i] + (1 - decay) * sums[code * d + i]
                }
            }
            // Laplace smoothing keeps rarely used codes from dividing by ~0.
            let total = (0..<k).reduce(Float(0)) { $0 + clusterSize[g * k + $1] }
            let epsilon: Float = 1e-5
            for code in 0..<k {
                let j = g * k + code
                let smoothed = (clusterSize[j] + epsilon) / (total + Float(k) * epsilon) * total
                for i in 0..<d { codebooks.vectors[j * d + i] = clusterSum[j * d + i] / smoothed }
            }
            for code in 0..<k { stepsUnused[g * k + code] = counts[code] > 0 ? 0 : stepsUnused[g * k + code] + 1 }
            // Dead-code restarts: move codes nobody picks onto current encoder outputs, chosen with
            // probability proportional to their squared distance to the code they chose.
            let dead = (0..<k).filter { code in
                clusterSize[g * k + code] < deadCodeThreshold
                    || (restartPatience > 0 && stepsUnused[g * k + code] >= restartPatience)
            }
            guard !dead.isEmpty else { continue }
            var cumulative = [Double](repeating: 0, count: count)
            var errorTotal: Double = 0
            for v in 0..<count {
                let (b, p) = (v / plane, v % plane)
                let base = (g * k + Int(symbols[(b * groups + g) * plane + p])) * d
                var e: Float = 0
                for i in 0..<d { let x = vectors[v * d + i] - codebooks.vectors[base + i]; e += x * x }
                errorTotal += Double(e)
                cumulative[v] = errorTotal
            }
            for code in dead {
                let j = g * k + code
                var pick = Int(rng.next() % UInt64(count))
                if errorTotal > 0 {
                    let target = rng.nextUniform() * errorTotal
                    var (low, high) = (0, count - 1)
                    while low < high {
                        let mid = (low + high) / 2
                        if cumulative[mid] > target { high = mid } else { low = mid + 1 }
                    }
                    pick = low
                }
                for i in 0..<d {
                    let v = vectors[pick * d + i]
                    codebooks.vectors[j * d + i] = v
                    clusterSum[j * d + i] = v
                }
                clusterSize[j] = 1
                stepsUnused[j] = 0
            }
        }
    }
}
