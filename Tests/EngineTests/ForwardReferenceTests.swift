import XCTest
@testable import Engine

/// Forward passes against direct, loop-by-loop definitions (the gradient checks only prove that
/// backward matches forward; these prove forward computes the right function).
final class ForwardReferenceTests: XCTestCase {
    /// Direct convolution in Double, zero padding, PyTorch weight layout.
    private func referenceConvolution(_ x: Tensor, _ conv: Conv2d) -> [Double] {
        let (n, c, h, w) = x.nchw
        let g = conv.geometry
        let (oh, ow) = (g.outputHeight(h), g.outputWidth(w))
        let weights = zip(conv.weight.value.data, conv.mask ?? conv.weight.value.data.map { _ in 1 }).map { $0 * $1 }
        var out = [Double](repeating: 0, count: n * conv.outputChannels * oh * ow)
        for b in 0..<n {
            for o in 0..<conv.outputChannels {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = Double(conv.bias?.value.data[o] ?? 0)
                        for i in 0..<c {
                            for ky in 0..<g.kernelHeight {
                                for kx in 0..<g.kernelWidth {
                                    let iy = oy * g.stride - g.padTop + ky, ix = ox * g.stride - g.padLeft + kx
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    let weight = weights[((o * c + i) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                    sum += Double(weight) * Double(x.data[((b * c + i) * h + iy) * w + ix])
                                }
                            }
                        }
                        out[((b * conv.outputChannels + o) * oh + oy) * ow + ox] = sum
                    }
                }
            }
        }
        return out
    }

    func testConvolutionMatchesDirectDefinition() {
        var random = TestRandom(seed: 21)
        let geometries: [ConvolutionGeometry] = [
            .square(kernel: 3, stride: 1, padding: 1),
            .square(kernel: 5, stride: 2, padding: 2),
            .square(kernel: 4, stride: 2, padding: 1),
            .square(kernel: 3, stride: 3, padding: 0),
            .square(kernel: 1, stride: 1, padding: 0),
            .square(kernel: 1, stride: 2, padding: 0),
            // The gated PixelCNN's shifted windows: rows strictly above, and left including centre.
            ConvolutionGeometry(kernelHeight: 2, kernelWidth: 5, stride: 1, padTop: 2, padLeft: 2, padBottom: -1, padRight: 2),
            ConvolutionGeometry(kernelHeight: 1, kernelWidth: 3, stride: 1, padTop: 0, padLeft: 2, padBottom: 0, padRight: 0),
        ]
        for geometry in geometries {
            let conv = Conv2d(name: "c", inputChannels: 3, outputChannels: 4, geometry: geometry, bias: true, mask: nil,
                              using: &random)
            let x = random.tensor([3, 3, 7, 6])
            let y = conv.forward(x)
            XCTAssertEqual(y.shape, [3, 4, geometry.outputHeight(7), geometry.outputWidth(6)], "\(geometry)")
            for (got, want) in zip(y.data, referenceConvolution(x, conv)) {
                XCTAssertEqual(Double(got), want, accuracy: 1e-5, "\(geometry)")
            }
        }
    }

    /// Large enough that im2col runs in several row chunks and GDN in several pixel blocks.
    func testChunkedPathsMatchDirectDefinition() {
        var random = TestRandom(seed: 25)
        let conv = Conv2d(name: "c", inputChannels: 32, outputChannels: 4, kernelSize: 3, padding: 1, using: &random)
        XCTAssertLessThan(Conv2d.rowsPerChunk(reduction: 32 * 9, outputHeight: 48, outputWidth: 40), 48)
        let x = random.tensor([2, 32, 48, 40])
        for (got, want) in zip(conv.forward(x).data, referenceConvolution(x, conv)) {
            XCTAssertEqual(Double(got), want, accuracy: 1e-4)
        }
        let gdn = GDN(name: "g", channels: 64)
        gdn.gamma.value = random.tensor([64, 64], in: 0...0.05)
        let z = random.tensor([1, 64, 36, 36], in: -2...2)
        let y = gdn.forward(z)
        for p in stride(from: 0, to: 36 * 36, by: 7) {
            for i in [0, 17, 63] {
                var norm = Double(gdn.beta.value.data[i])
                for j in 0..<64 {
                    let xj = Double(z.data[j * 1296 + p])
                    norm += Double(gdn.gamma.value.data[i * 64 + j]) * xj * xj
                }
                XCTAssertEqual(Double(y.data[i * 1296 + p]), Double(z.data[i * 1296 + p]) / norm.squareRoot(), accuracy: 1e-5)
            }
        }
    }

    func testOutputSizesFollowPyTorch() {
        // floor((H + 2p − k) / s) + 1
        let g = ConvolutionGeometry.square(kernel: 5, stride: 2, padding: 2)
        XCTAssertEqual(g.outputHeight(128), 64)
        XCTAssertEqual(g.outputHeight(7), 4)
        XCTAssertEqual(ConvolutionGeometry.square(kernel: 3, stride: 2, padding: 0).outputWidth(8), 3)
    }

    func testPixelShuffleUsesPyTorchChannelOrder() {
        // Input [1, 8, 1, 2] holding its own flat index; r = 2 gives [1, 2, 2, 4].
        let input = Tensor(shape: [1, 8, 1, 2], data: (0..<16).map(Float.init))
        let output = PixelShuffle(factor: 2).forward(input)
        XCTAssertEqual(output.shape, [1, 2, 2, 4])
        // out[c, h·2 + i, w·2 + j] = in[c·4 + i·2 + j, h, w]; in[k, 0, w] = 2k + w.
        var expected: [Float] = []
        for c in 0..<2 { for y in 0..<2 { for x in 0..<4 {
            let (i, w, j) = (y, x / 2, x % 2)
            expected.append(Float(2 * (c * 4 + i * 2 + j) + w))
        } } }
        XCTAssertEqual(output.data, expected)
        XCTAssertEqual(output.data, [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15])
    }

    func testGDNMatchesDefinition() {
        var random = TestRandom(seed: 22)
        for inverse in [false, true] {
            let gdn = GDN(name: "g", channels: 3, inverse: inverse)
            gdn.beta.value = random.tensor([3], in: 0.5...2)
            gdn.gamma.value = random.tensor([3, 3], in: 0...1)
            let x = random.tensor([2, 3, 2, 3], in: -3...3)
            let y = gdn.forward(x)
            for b in 0..<2 { for p in 0..<6 { for i in 0..<3 {
                var norm = Double(gdn.beta.value.data[i])
                for j in 0..<3 {
                    let xj = Double(x.data[(b * 3 + j) * 6 + p])
                    norm += Double(gdn.gamma.value.data[i * 3 + j]) * xj * xj
                }
                let xi = Double(x.data[(b * 3 + i) * 6 + p])
                let want = inverse ? xi * norm.squareRoot() : xi / norm.squareRoot()
                XCTAssertEqual(Double(y.data[(b * 3 + i) * 6 + p]), want, accuracy: 1e-5)
            } } }
        }
    }

    func testBatchSplitAgreesWithSingleSlice() {
        var random = TestRandom(seed: 23)
        // The analysis network's layer kinds: strided 5×5 convolutions with GDN, then a 3×3 one.
        let net = Sequential([
            Conv2d(name: "a.0", inputChannels: 3, outputChannels: 8, kernelSize: 5, stride: 2, padding: 2, using: &random),
            GDN(name: "a.1", channels: 8),
            Conv2d(name: "a.2", inputChannels: 8, outputChannels: 8, kernelSize: 5, stride: 2, padding: 2, using: &random),
            GDN(name: "a.3", channels: 8),
            Conv2d(name: "a.4", inputChannels: 8, outputChannels: 4, kernelSize: 3, padding: 1, using: &random),
        ])
        let x = random.tensor([5, 3, 8, 8])
        func run() -> (Tensor, Tensor, [Float]) {
            for p in net.parameters { p.zeroGradient() }
            let y = net.forward(x)
            let dx = net.backward(y)
            return (y, dx, net.parameters.flatMap(\.gradient.data))
        }
        let split = Parallelism.$batchWorkers.withValue(2) { run() }
        let single = Parallelism.$batchWorkers.withValue(1) { run() }
        XCTAssertEqual(split.0.shape, [5, 4, 2, 2])
        for (a, b) in zip(split.0.data, single.0.data) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(split.1.data, single.1.data) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(split.2, single.2) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
    }

    /// A batch of one (the codec's case) is split into chunks fixed by the image's size, each
    /// computed with single-threaded BLAS: the synthesis gives the same bits on any number of cores.
    func testOneImageGivesTheSameBitsOnAnyNumberOfCores() {
        var random = TestRandom(seed: 29)
        // The synthesis network's layer kinds, a pointwise convolution, and shapes with several chunks.
        let net = Sequential([
            Conv2d(name: "s.0", inputChannels: 16, outputChannels: 16, kernelSize: 3, padding: 1, using: &random),
            GDN(name: "s.1", channels: 16, inverse: true),
            Conv2d(name: "s.2", inputChannels: 16, outputChannels: 64, kernelSize: 3, padding: 1, using: &random),
            PixelShuffle(factor: 2),
            GDN(name: "s.4", channels: 16, inverse: true),
            Conv2d(name: "s.5", inputChannels: 16, outputChannels: 12, kernelSize: 1, using: &random),
            PixelShuffle(factor: 2),
        ])
        let x = random.tensor([1, 16, 96, 64])  // 4 row chunks per 3×3 convolution, 2 and 6 GDN blocks
        let results = [1, 2, 3, 5].map { workers in Parallelism.$batchWorkers.withValue(workers) { net.forward(x) } }
        XCTAssertEqual(results[0].shape, [1, 3, 384, 256])
        for result in results.dropFirst() { XCTAssertEqual(result.data, results[0].data) }
    }
}
