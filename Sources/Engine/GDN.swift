/// Generalized divisive normalization (Ballé, Laparra and Simoncelli 2016, "Density modeling of
/// images using a generalized normalization transformation") and its inverse, IGDN.
///
/// At every pixel, over channels `i` of an NCHW tensor `[N, C, H, W]`:
/// - GDN:  `y_i = x_i / sqrt(beta_i + Σ_j gamma_ij · x_j²)`
/// - IGDN: `y_i = x_i · sqrt(beta_i + Σ_j gamma_ij · x_j²)` (`inverse: true`, the synthesis side)
///
/// Parameters `<name>.beta` `[C]` and `<name>.gamma` `[C, C]` hold the values themselves (not a
/// reparametrisation), so a PyTorch GDN's effective `beta`/`gamma` load directly.
///
/// Positivity (the document's choice): the forward pass uses `max(beta, 1e-6)` and
/// `max(gamma, 0)`, which keeps the square root's argument ≥ 1e-6. Backward passes the gradient
/// straight through these bounds, except where a stored value is below its bound and the gradient
/// would push it further down (CompressAI's `LowerBound` rule); there the gradient is 0, so
/// gradient descent never drives a clamped value deeper into the clamp. An optimiser may still
/// leave a value below the bound (for example by weight decay); it then acts as the bound.
/// Initialisation as in CompressAI: `beta = 1`, `gamma = 0.1 · I`.
public final class GDN: Layer {
    public let beta: Parameter
    public let gamma: Parameter
    public let channels: Int
    public let inverse: Bool

    /// The smallest `beta` the forward pass uses.
    public static let betaMinimum: Float = 1e-6

    private var cachedInput: Tensor?
    /// `1 / sqrt(beta + gamma · x²)` for every element of the last input.
    private var cachedReciprocalNorm: [Float] = []
    private let squares = WorkerScratch()
    private let norms = WorkerScratch()
    private let weighted = WorkerScratch()
    private let mixed = WorkerScratch()
    private let partials = WorkerScratch()

    public init(name: String, channels: Int, inverse: Bool = false) {
        precondition(channels > 0, "GDN needs channels")
        self.channels = channels
        self.inverse = inverse
        beta = Parameter(name: name + ".beta", value: Tensor(shape: [channels], data: [Float](repeating: 1, count: channels)))
        var g = [Float](repeating: 0, count: channels * channels)
        for i in 0..<channels { g[i * channels + i] = 0.1 }
        gamma = Parameter(name: name + ".gamma", value: Tensor(shape: [channels, channels], data: g))
    }

    public var parameters: [Parameter] { [beta, gamma] }

    /// Pixels per block: the block's `[C, block]` slices of x, x², the norm and the gradients stay
    /// in the core's cache while the two matrix products and the element-wise passes run.
    private func blockWidth(plane: Int) -> Int {
        min(plane, max(16, 65_536 / channels))
    }

    public func forward(_ input: Tensor) -> Tensor {
        let (n, c, h, w) = input.nchw
        precondition(c == channels, "GDN \(gamma.name) expects \(channels) channels, found \(c)")
        let plane = h * w, size = c * plane, block = blockWidth(plane: plane)
        // Kept for backward: the input and 1/norm at every element. Otherwise 1/norm of one
        // column block at a time, in each worker's own buffer.
        let keep = ForwardCaches.kept
        cachedInput = keep ? input : nil
        if !keep {
            cachedReciprocalNorm = []
        } else if cachedReciprocalNorm.count != input.count {
            cachedReciprocalNorm = [Float](repeating: 0, count: input.count)
        }
        // A batch of one is spread over the cores by column blocks; a batch, by images.
        let blockCount = (plane + block - 1) / block
        let workers = Parallelism.workerCount(images: n, chunks: blockCount)
        let squareBuffers = squares.pointers(workers: workers, count: c * block)
        let normBuffers = keep ? [] : norms.pointers(workers: workers, count: c * block)
        let gammaBounded = gamma.value.data.map { max($0, 0) }
        let betaBounded = beta.value.data.map { max($0, GDN.betaMinimum) }
        let inverse = self.inverse
        return cachedReciprocalNorm.withUnsafeMutableBufferPointer { norm in
            let normBase = norm.baseAddress  // nil when nothing is kept
            return input.data.withUnsafeBufferPointer { x in
                gammaBounded.withUnsafeBufferPointer { gp in
                    Tensor(shape: input.shape) { y in
                        // Columns `index · block …` of image i, on `worker`'s buffer.
                        Parallelism.forEachImageChunk(images: n, chunks: blockCount) { worker, i, index in
                            let s = squareBuffers[worker]
                            let start = index * block
                            let cols = min(block, plane - start)
                            let xi = x.baseAddress! + i * size + start
                            // 1/norm rows of this block: in the kept tensor (stride `plane`) or
                            // in the worker's buffer (stride `cols`).
                            let (ri, normStride) = keep ? (normBase! + i * size + start, plane) : (normBuffers[worker], cols)
                            let yi = y.baseAddress! + i * size + start
                            for ch in 0..<c {
                                let xr = xi + ch * plane, sr = s + ch * cols
                                for j in 0..<cols { sr[j] = xr[j] * xr[j] }
                            }
                            gemm(transposeA: false, transposeB: false, m: c, n: cols, k: c,
                                 a: gp.baseAddress!, lda: c, b: s, ldb: cols, beta: 0, c: ri, ldc: normStride)
                            for ch in 0..<c {
                                let b = betaBounded[ch]
                                let xr = xi + ch * plane, rr = ri + ch * normStride, yr = yi + ch * plane
                                if inverse {
                                    for j in 0..<cols {
                                        let u = rr[j] + b
                                        let r = reciprocalSquareRoot(u)
                                        rr[j] = r
                                        yr[j] = xr[j] * (u * r)
                                    }
                                } else {
                                    for j in 0..<cols {
                                        let r = reciprocalSquareRoot(rr[j] + b)
                                        rr[j] = r
                                        yr[j] = xr[j] * r
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let input = cachedInput else { preconditionFailure("GDN.backward before forward") }
        precondition(gradOutput.shape == input.shape, "gradient shape \(gradOutput.shape) does not match \(input.shape)")
        let (n, c, h, w) = input.nchw
        let plane = h * w, size = c * plane, block = blockWidth(plane: plane)
        let workers = Parallelism.workerCount(for: n)
        let squareBuffers = squares.pointers(workers: workers, count: c * block)
        let weightedBuffers = weighted.pointers(workers: workers, count: c * block)
        let mixedBuffers = mixed.pointers(workers: workers, count: c * block)
        // Per worker: Σ t · (x²)ᵀ  [C, C], then Σ t  [C].
        let partialBuffers = partials.pointers(workers: workers, count: c * c + c)
        let gammaBounded = gamma.value.data.map { max($0, 0) }
        let inverse = self.inverse
        let parameterGradients = ParameterGradients.enabled
        // With r = 1/sqrt(u), u = beta + gamma·x²:
        //   GDN  y = x·r:  t = dy·x·r³,  dx = dy·r − x·(gammaᵀt),  dgamma = −½ t(x²)ᵀ, dbeta = −½ Σt
        //   IGDN y = x/r:  t = dy·x·r,   dx = dy/r + x·(gammaᵀt),  dgamma = +½ t(x²)ᵀ, dbeta = +½ Σt
        let gradInput = cachedReciprocalNorm.withUnsafeBufferPointer { norm in
            input.data.withUnsafeBufferPointer { x in
                gradOutput.data.withUnsafeBufferPointer { dy in
                    gammaBounded.withUnsafeBufferPointer { gp in
                        Tensor(shape: input.shape) { dx in
                            Parallelism.forEachSlice(of: n) { worker, items in
                                let s = squareBuffers[worker], t = weightedBuffers[worker], v = mixedBuffers[worker]
                                let dG = partialBuffers[worker], dB = dG + c * c
                                for ch in 0..<c * c + c { dG[ch] = 0 }
                                for i in items {
                                    for start in stride(from: 0, to: plane, by: block) {
                                        let cols = min(block, plane - start)
                                        let offset = i * size + start
                                        let xi = x.baseAddress! + offset, ri = norm.baseAddress! + offset
                                        let dyi = dy.baseAddress! + offset, dxi = dx.baseAddress! + offset
                                        for ch in 0..<c {
                                            let xr = xi + ch * plane, rr = ri + ch * plane, dyr = dyi + ch * plane
                                            let tr = t + ch * cols, sr = s + ch * cols
                                            if inverse {
                                                for j in 0..<cols {
                                                    tr[j] = dyr[j] * xr[j] * rr[j]
                                                    sr[j] = xr[j] * xr[j]
                                                }
                                            } else {
                                                for j in 0..<cols {
                                                    let r = rr[j]
                                                    tr[j] = dyr[j] * xr[j] * r * r * r
                                                    sr[j] = xr[j] * xr[j]
                                                }
                                            }
                                            dB[ch] += sum(tr, count: cols)
                                        }
                                        gemm(transposeA: true, transposeB: false, m: c, n: cols, k: c,
                                             a: gp.baseAddress!, lda: c, b: t, ldb: cols, beta: 0, c: v, ldc: cols)
                                        if parameterGradients {
                                            gemm(transposeA: false, transposeB: true, m: c, n: c, k: cols,
                                                 a: t, lda: cols, b: s, ldb: cols, beta: 1, c: dG, ldc: c)
                                        }
                                        for ch in 0..<c {
                                            let xr = xi + ch * plane, rr = ri + ch * plane, dyr = dyi + ch * plane
                                            let dxr = dxi + ch * plane, vr = v + ch * cols
                                            if inverse {
                                                // dy/r = dy·sqrt(u); r ≥ 1/sqrt(u_max) > 0.
                                                for j in 0..<cols { dxr[j] = dyr[j] / rr[j] + xr[j] * vr[j] }
                                            } else {
                                                for j in 0..<cols { dxr[j] = dyr[j] * rr[j] - xr[j] * vr[j] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        guard parameterGradients else { return gradInput }
        let scale: Float = inverse ? 0.5 : -0.5
        var gammaStep = [Float](repeating: 0, count: c * c)
        var betaStep = [Float](repeating: 0, count: c)
        for worker in 0..<workers {
            let dG = partialBuffers[worker], dB = dG + c * c
            for j in 0..<c * c { gammaStep[j] += scale * dG[j] }
            for j in 0..<c { betaStep[j] += scale * dB[j] }
        }
        accumulateBounded(gammaStep, into: gamma, bound: 0)
        accumulateBounded(betaStep, into: beta, bound: GDN.betaMinimum)
        return gradInput
    }

    /// Adds `step` to the gradient, except where the value sits below `bound` and the step is
    /// non-negative (descent would push it further below).
    private func accumulateBounded(_ step: [Float], into parameter: Parameter, bound: Float) {
        let values = parameter.value.data
        parameter.gradient.data.withUnsafeMutableBufferPointer { g in
            for j in 0..<step.count where values[j] >= bound || step[j] < 0 {
                g[j] += step[j]
            }
        }
    }
}
