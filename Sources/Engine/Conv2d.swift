import SeededRandom
/// 2-D convolution over NCHW tensors, computed as im2col followed by one matrix product per image
/// (`Y[out, oh·ow] = W[out, in·kh·kw] · columns[in·kh·kw, oh·ow] + bias`).
///
/// - Input `[N, inputChannels, H, W]`, output `[N, outputChannels, outH, outW]` with
///   `outH = (H + 2·padding − kernelSize) / stride + 1` (floor), likewise for the width.
/// - `weight` is `[outputChannels, inputChannels, kernelSize, kernelSize]` and `bias` is
///   `[outputChannels]`, PyTorch's `nn.Conv2d` layout and names (`<name>.weight`, `<name>.bias`).
/// - Backward: `dW += dY · columnsᵀ`, `dX = col2im(Wᵀ · dY)`; the columns are recomputed from the
///   cached input rather than stored, which keeps training memory at the size of the activations.
///
/// A convolution may carry a fixed 0/1 `mask` over its weights (the PixelCNN convolutions): the
/// forward pass uses `weight ⊙ mask`, and the gradient of every masked-out weight is exactly 0.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    public let inputChannels: Int
    public let outputChannels: Int
    package let geometry: ConvolutionGeometry
    /// Same layout as `weight`; nil when every weight is used.
    let mask: [Float]?

    private var cachedInput: Tensor?
    private var maskedWeight: [Float] = []
    private let columns = WorkerScratch()
    private let gradientColumns = WorkerScratch()
    private let parameterGradients = WorkerScratch()

    /// A square-kernel convolution initialised like PyTorch's default
    /// (uniform in ±1/sqrt(inputChannels · kernelSize²) for weights and bias).
    // Specialised for SplitMix64 (the engine's generator), so callers in other modules skip generic
    // dispatch on every random draw: building a model before loading its weights took 0.4 s without.
    @_specialize(exported: true, where G == SplitMix64)
    public convenience init<G: RandomNumberGenerator>(
        name: String, inputChannels: Int, outputChannels: Int,
        kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
        using generator: inout G
    ) {
        self.init(name: name, inputChannels: inputChannels, outputChannels: outputChannels,
                  geometry: .square(kernel: kernelSize, stride: stride, padding: padding),
                  bias: bias, mask: nil, using: &generator)
    }

    init<G: RandomNumberGenerator>(
        name: String, inputChannels: Int, outputChannels: Int,
        geometry: ConvolutionGeometry, bias: Bool, mask: [Float]?,
        using generator: inout G
    ) {
        precondition(inputChannels > 0 && outputChannels > 0, "a convolution needs channels")
        precondition(geometry.kernelHeight > 0 && geometry.kernelWidth > 0 && geometry.stride > 0,
                     "kernel and stride must be positive")
        let shape = [outputChannels, inputChannels, geometry.kernelHeight, geometry.kernelWidth]
        if let mask {
            precondition(mask.count == shape.reduce(1, *), "mask does not match weight shape \(shape)")
        }
        let fanIn = inputChannels * geometry.kernelHeight * geometry.kernelWidth
        let bound = 1 / Float(fanIn).squareRoot()
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.geometry = geometry
        self.mask = mask
        weight = Parameter(name: name + ".weight",
                           value: .uniform(shape: shape, bound: bound, using: &generator))
        self.bias = bias
            ? Parameter(name: name + ".bias",
                        value: .uniform(shape: [outputChannels], bound: bound, using: &generator))
            : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    private var reductionSize: Int { inputChannels * geometry.kernelHeight * geometry.kernelWidth }

    /// The weights the forward pass multiplies by: `weight`, or `weight ⊙ mask`.
    private func effectiveWeight() -> [Float] {
        guard let mask else { return weight.value.data }
        let w = weight.value.data
        if maskedWeight.count != w.count { maskedWeight = [Float](repeating: 0, count: w.count) }
        for i in 0..<w.count { maskedWeight[i] = w[i] * mask[i] }
        return maskedWeight
    }

    public func forward(_ input: Tensor) -> Tensor {
        let (n, c, h, w) = input.nchw
        precondition(c == inputChannels, "Conv2d \(weight.name) expects \(inputChannels) channels, found \(c)")
        let g = geometry
        let oh = g.outputHeight(h), ow = g.outputWidth(w)
        let plane = oh * ow, k = reductionSize, outC = outputChannels
        cachedInput = ForwardCaches.kept ? input : nil
        // A batch of one is spread over the cores by chunks of output rows (pointwise
        // convolutions too, reading the rows in place); a batch, by images.
        let rowsPerChunk = g.isPointwise && n > 1 ? oh
            : Conv2d.rowsPerChunk(reduction: k, outputHeight: oh, outputWidth: ow)
        let chunkCount = (oh + rowsPerChunk - 1) / rowsPerChunk
        let workers = Parallelism.workerCount(images: n, chunks: chunkCount)
        let columnBuffers = g.isPointwise ? [] : columns.pointers(workers: workers, count: k * rowsPerChunk * ow)
        let weights = effectiveWeight()
        let biasValues = bias?.value.data
        return Tensor(shape: [n, outC, oh, ow]) { out in
            input.data.withUnsafeBufferPointer { x in
                weights.withUnsafeBufferPointer { wp in
                    // Output rows `chunk · rowsPerChunk …` of image i, on `worker`'s column buffer.
                    Parallelism.forEachImageChunk(images: n, chunks: chunkCount) { worker, i, chunk in
                        let xi = x.baseAddress! + i * c * h * w
                        let y = out.baseAddress! + i * outC * plane
                        let firstRow = chunk * rowsPerChunk
                        let columnCount = (min(firstRow + rowsPerChunk, oh) - firstRow) * ow
                        if let biasValues {
                            for o in 0..<outC {
                                (y + o * plane + firstRow * ow).initialize(repeating: biasValues[o], count: columnCount)
                            }
                        }
                        var source = UnsafePointer(xi + firstRow * ow)
                        if !g.isPointwise {
                            im2col(xi, channels: c, height: h, width: w, geometry: g,
                                   outputRows: firstRow..<(firstRow + columnCount / ow), outputWidth: ow,
                                   into: columnBuffers[worker])
                            source = UnsafePointer(columnBuffers[worker])
                        }
                        gemm(transposeA: false, transposeB: false, m: outC, n: columnCount, k: k,
                             a: wp.baseAddress!, lda: k, b: source, ldb: g.isPointwise ? plane : columnCount,
                             beta: biasValues == nil ? 0 : 1, c: y + firstRow * ow, ldc: plane)
                    }
                }
            }
        }
    }

    /// Output rows per im2col chunk: as many as keep the column buffer within `floats`, at least one.
    ///
    /// Chunking keeps the column buffer in the core's cache between im2col writing it and the
    /// matrix product reading it, instead of streaming a whole image's columns (19 MB for the last
    /// synthesis convolution on a 128×128 crop) through memory. Measured on the reference transforms
    /// (batch 8, 128×128, 2 cores): 1 MB chunks in the forward pass made the 128→12 output
    /// convolution twice as fast and the large convolutions about 10% faster than whole images;
    /// 4 MB chunks were best in the backward pass, where each chunk also re-reads and re-writes the
    /// weight-gradient accumulator.
    static func rowsPerChunk(reduction: Int, outputHeight: Int, outputWidth: Int, floats: Int = forwardChunkFloats) -> Int {
        max(1, min(outputHeight, floats / max(1, reduction * outputWidth)))
    }

    static let forwardChunkFloats = 262_144
    static let backwardChunkFloats = 1_048_576

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let input = cachedInput else { preconditionFailure("backward before forward in \(weight.name)") }
        let (n, c, h, w) = input.nchw
        let g = geometry
        let oh = g.outputHeight(h), ow = g.outputWidth(w)
        let plane = oh * ow, k = reductionSize, outC = outputChannels
        precondition(gradOutput.shape == [n, outC, oh, ow],
                     "gradient shape \(gradOutput.shape) does not match output [\(n), \(outC), \(oh), \(ow)]")
        let rowsPerChunk = g.isPointwise ? oh : Conv2d.rowsPerChunk(reduction: k, outputHeight: oh, outputWidth: ow, floats: Conv2d.backwardChunkFloats)
        let workers = Parallelism.workerCount(for: n)
        let columnBuffers = g.isPointwise ? [] : columns.pointers(workers: workers, count: k * rowsPerChunk * ow)
        let gradientBuffers = g.isPointwise ? [] : gradientColumns.pointers(workers: workers, count: k * rowsPerChunk * ow)
        // Per-worker partial sums: weight gradient, then bias gradient.
        let partials = parameterGradients.pointers(workers: workers, count: outC * k + outC)
        let weights = effectiveWeight()
        let parameterGradients = ParameterGradients.enabled
        let gradInput = Tensor(shape: input.shape) { dx in
            input.data.withUnsafeBufferPointer { x in
                gradOutput.data.withUnsafeBufferPointer { dyAll in
                    weights.withUnsafeBufferPointer { wp in
                        Parallelism.forEachSlice(of: n) { worker, items in
                            let dW = partials[worker]
                            let dB = dW + outC * k
                            for i in items {
                                let firstImage = i == items.lowerBound
                                let xi = x.baseAddress! + i * c * h * w
                                let dxi = dx.baseAddress! + i * c * h * w
                                let dy = dyAll.baseAddress! + i * outC * plane
                                if parameterGradients {
                                    for o in 0..<outC {
                                        let total = sum(dy + o * plane, count: plane)
                                        dB[o] = firstImage ? total : dB[o] + total
                                    }
                                }
                                if g.isPointwise {
                                    if parameterGradients {
                                        gemm(transposeA: false, transposeB: true, m: outC, n: k, k: plane,
                                             a: dy, lda: plane, b: xi, ldb: plane,
                                             beta: firstImage ? 0 : 1, c: dW, ldc: k)
                                    }
                                    gemm(transposeA: true, transposeB: false, m: k, n: plane, k: outC,
                                         a: wp.baseAddress!, lda: k, b: dy, ldb: plane,
                                         beta: 0, c: dxi, ldc: plane)
                                    continue
                                }
                                dxi.initialize(repeating: 0, count: c * h * w)
                                for firstRow in stride(from: 0, to: oh, by: rowsPerChunk) {
                                    let rows = firstRow..<min(firstRow + rowsPerChunk, oh)
                                    let columnCount = rows.count * ow
                                    if parameterGradients {
                                        im2col(xi, channels: c, height: h, width: w, geometry: g,
                                               outputRows: rows, outputWidth: ow, into: columnBuffers[worker])
                                        gemm(transposeA: false, transposeB: true, m: outC, n: k, k: columnCount,
                                             a: dy + firstRow * ow, lda: plane, b: columnBuffers[worker], ldb: columnCount,
                                             beta: firstImage && firstRow == 0 ? 0 : 1, c: dW, ldc: k)
                                    }
                                    gemm(transposeA: true, transposeB: false, m: k, n: columnCount, k: outC,
                                         a: wp.baseAddress!, lda: k, b: dy + firstRow * ow, ldb: plane,
                                         beta: 0, c: gradientBuffers[worker], ldc: columnCount)
                                    col2im(gradientBuffers[worker], channels: c, height: h, width: w, geometry: g,
                                           outputRows: rows, outputWidth: ow, addingInto: dxi)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard parameterGradients else { return gradInput }
        for worker in 0..<workers {
            let dW = partials[worker]
            weight.gradient.data.withUnsafeMutableBufferPointer { gw in
                if let mask {
                    for j in 0..<outC * k { gw[j] += dW[j] * mask[j] }
                } else {
                    for j in 0..<outC * k { gw[j] += dW[j] }
                }
            }
            if let bias {
                let dB = dW + outC * k
                bias.gradient.data.withUnsafeMutableBufferPointer { gb in
                    for o in 0..<outC { gb[o] += dB[o] }
                }
            }
        }
        return gradInput
    }
}
