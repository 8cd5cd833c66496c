import XCTest
@testable import Engine

/// Finite-difference checks of every layer's backward pass: input gradient and parameter
/// gradients. Batches of 3 make the two-worker batch split uneven (1 + 2 images).
final class GradientCheckTests: XCTestCase {
    func testConv2dStrideOnePadded() {
        var random = TestRandom(seed: 1)
        let conv = Conv2d(name: "c", inputChannels: 3, outputChannels: 4, kernelSize: 3, padding: 1, using: &random)
        checkGradients(conv, input: random.tensor([3, 3, 6, 5]), random: &random)
    }

    func testConv2dStrideTwo() {
        var random = TestRandom(seed: 2)
        let conv = Conv2d(name: "c", inputChannels: 2, outputChannels: 3, kernelSize: 5, stride: 2, padding: 2, using: &random)
        checkGradients(conv, input: random.tensor([3, 2, 9, 8]), random: &random)
    }

    /// Several im2col row chunks per image, forward and backward (see `Conv2d.rowsPerChunk`).
    func testConv2dInChunks() {
        var random = TestRandom(seed: 19)
        let conv = Conv2d(name: "c", inputChannels: 64, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, using: &random)
        XCTAssertLessThan(Conv2d.rowsPerChunk(reduction: 64 * 9, outputHeight: 48, outputWidth: 40,
                                              floats: Conv2d.backwardChunkFloats), 48)
        checkGradients(conv, input: random.tensor([2, 64, 96, 80]), random: &random, samples: 10)
    }

    /// Several pixel blocks per image in GDN's passes.
    func testGDNInBlocks() {
        var random = TestRandom(seed: 20)
        for inverse in [false, true] {
            let gdn = GDN(name: "g", channels: 64, inverse: inverse)
            // gamma stays clear of its bound (0) by more than epsilon, where the clamp has a kink.
            gdn.gamma.value = random.tensor([64, 64], in: 0.02...0.05)
            checkGradients(gdn, input: random.tensor([2, 64, 36, 36], in: -2...2), random: &random,
                           epsilon: 5e-3, samples: 12)
        }
    }

    func testConv2dPointwiseWithoutBias() {
        var random = TestRandom(seed: 3)
        let conv = Conv2d(name: "c", inputChannels: 4, outputChannels: 3, kernelSize: 1, bias: false, using: &random)
        checkGradients(conv, input: random.tensor([2, 4, 3, 3]), random: &random)
        XCTAssertEqual(conv.parameters.map(\.name), ["c.weight"])
    }

    func testConv2dAccumulatesParameterGradients() {
        var random = TestRandom(seed: 4)
        let conv = Conv2d(name: "c", inputChannels: 2, outputChannels: 2, kernelSize: 3, padding: 1, using: &random)
        let output = conv.forward(random.tensor([2, 2, 4, 4]))
        let gradOutput = random.tensor(output.shape)
        _ = conv.backward(gradOutput)
        let once = conv.weight.gradient.data
        _ = conv.backward(gradOutput)
        for (twice, single) in zip(conv.weight.gradient.data, once) { XCTAssertEqual(twice, 2 * single, accuracy: 1e-5) }
    }

    func testPixelShuffle() {
        var random = TestRandom(seed: 5)
        checkGradients(PixelShuffle(factor: 2), input: random.tensor([2, 8, 3, 2]), random: &random)
        checkGradients(PixelShuffle(factor: 3), input: random.tensor([1, 9, 2, 2]), random: &random)
    }

    func testReLU() {
        var random = TestRandom(seed: 6)
        checkGradients(ReLU(), input: random.tensorAvoidingZero([2, 3, 4, 4], gap: 0.05), random: &random)
    }

    func testLeakyReLU() {
        var random = TestRandom(seed: 7)
        checkGradients(LeakyReLU(slope: 0.2), input: random.tensorAvoidingZero([2, 3, 4, 4], gap: 0.05), random: &random)
    }

    func testGatedActivation() {
        var random = TestRandom(seed: 8)
        checkGradients(GatedActivation(), input: random.tensor([2, 6, 3, 3]), random: &random)
    }

    private func randomizedGDN(inverse: Bool, random: inout TestRandom) -> GDN {
        let gdn = GDN(name: "g", channels: 4, inverse: inverse)
        gdn.beta.value = random.tensor([4], in: 0.5...1.5)
        gdn.gamma.value = random.tensor([4, 4], in: 0.05...0.6)
        return gdn
    }

    func testGDN() {
        var random = TestRandom(seed: 9)
        let gdn = randomizedGDN(inverse: false, random: &random)
        checkGradients(gdn, input: random.tensor([3, 4, 3, 4], in: -2...2), random: &random, samples: 40)
    }

    func testIGDN() {
        var random = TestRandom(seed: 10)
        let gdn = randomizedGDN(inverse: true, random: &random)
        checkGradients(gdn, input: random.tensor([3, 4, 3, 4], in: -2...2), random: &random, samples: 40)
    }

    /// Below its bound, a parameter is clamped in the forward pass; its gradient is the
    /// straight-through value when that would raise it (negative gradient) and 0 otherwise.
    func testGDNBoundedParametersPassGradientOnlyUpwards() {
        var random = TestRandom(seed: 11)
        for inverse in [false, true] {
            let clamped = randomizedGDN(inverse: inverse, random: &random)
            let atBound = GDN(name: "g", channels: 4, inverse: inverse)
            clamped.gamma.value.data[1] = -0.5  // gamma[0, 1]
            clamped.beta.value.data[2] = -1     // beta[2]
            atBound.gamma.value = clamped.gamma.value
            atBound.beta.value = clamped.beta.value
            atBound.gamma.value.data[1] = 0
            atBound.beta.value.data[2] = GDN.betaMinimum
            let input = random.tensor([2, 4, 3, 3], in: -2...2)
            for sign: Float in [1, -1] {
                var gradOutput = random.tensor([2, 4, 3, 3])
                for i in gradOutput.data.indices { gradOutput.data[i] = sign * abs(gradOutput.data[i]) }
                for gdn in [clamped, atBound] {
                    for p in gdn.parameters { p.zeroGradient() }
                    XCTAssertEqual(gdn.forward(input), atBound.forward(input))
                    _ = gdn.backward(gradOutput)
                }
                let gammaStep = atBound.gamma.gradient.data[1], betaStep = atBound.beta.gradient.data[2]
                XCTAssertNotEqual(gammaStep, 0)
                XCTAssertEqual(clamped.gamma.gradient.data[1], gammaStep < 0 ? gammaStep : 0)
                XCTAssertEqual(clamped.beta.gradient.data[2], betaStep < 0 ? betaStep : 0)
                XCTAssertEqual(clamped.gamma.gradient.data[0], atBound.gamma.gradient.data[0])
            }
        }
    }

    func testResidualBlock() {
        // A central difference across a ReLU kink measures nothing: take the first seed whose hidden
        // pre-activations all lie farther from zero than a step of `epsilon` in one weight, bias or
        // input (inputs and weights are below 1 in magnitude) can move them.
        let epsilon: Float = 3e-3
        for seed in UInt64(12)..<UInt64(212) {
            var random = TestRandom(seed: seed)
            let block = ResidualBlock(name: "r", channels: 3, hiddenChannels: 5, using: &random)
            let input = random.tensor([2, 3, 4, 4])
            guard block.conv1.forward(input).data.allSatisfy({ abs($0) > 1.5 * epsilon }) else { continue }
            checkGradients(block, input: input, random: &random, epsilon: epsilon)
            XCTAssertEqual(block.parameters.map(\.name), ["r.conv1.weight", "r.conv1.bias", "r.conv2.weight", "r.conv2.bias"])
            return
        }
        XCTFail("no seed in 200 keeps the hidden units off the ReLU kink")
    }

    func testMaskedConvolutionsWithGroups() {
        var random = TestRandom(seed: 13)
        for mask in [PixelCNNMask.a, .b] {
            let conv = MaskedConv2d(name: "m", inputChannels: 6, outputChannels: 9, kernelSize: 5,
                                    mask: mask, groups: 3, using: &random)
            let gradients = checkGradients(conv, input: random.tensor([3, 6, 5, 6]), random: &random, samples: 60)
            let weightGradient = gradients["m.weight"]!.data
            let masks = conv.convolution.mask!
            var maskedCount = 0
            for j in masks.indices where masks[j] == 0 {
                maskedCount += 1
                XCTAssertEqual(weightGradient[j], 0, "masked weight \(j) has a gradient")
            }
            XCTAssertGreaterThan(maskedCount, 0)
            XCTAssert(zip(masks, weightGradient).contains { $0 == 1 && $1 != 0 })
        }
    }

    func testGatedPixelCNNBlocks() {
        var random = TestRandom(seed: 14)
        let first = GatedPixelCNNBlock(name: "p.0", inputChannels: 4, channels: 6, kernelSize: 3, mask: .a, groups: 2,
                                       using: &random)
        checkGradients(first, input: random.tensor([3, 4, 4, 5]), random: &random, samples: 30)
        let next = GatedPixelCNNBlock(name: "p.1", inputChannels: 12, channels: 6, kernelSize: 5, mask: .b, groups: 2,
                                      using: &random)
        let gradients = checkGradients(next, input: random.tensor([3, 12, 4, 5]), random: &random, samples: 30)
        for conv in [next.horizontal, next.output] {
            let masks = conv.mask!
            for j in masks.indices where masks[j] == 0 { XCTAssertEqual(gradients[conv.weight.name]!.data[j], 0) }
        }
        XCTAssertEqual(first.parameters.map(\.name), [
            "p.0.vertical.weight", "p.0.vertical.bias", "p.0.horizontal.weight", "p.0.horizontal.bias",
            "p.0.link.weight", "p.0.output.weight", "p.0.output.bias",
        ])
    }

    func testSequentialAndChannelSlice() {
        var random = TestRandom(seed: 15)
        let net = Sequential([
            Conv2d(name: "s.0", inputChannels: 2, outputChannels: 4, kernelSize: 3, stride: 2, padding: 1, using: &random),
            ChannelSlice(channels: 1..<3),
            Conv2d(name: "s.2", inputChannels: 2, outputChannels: 8, kernelSize: 1, using: &random),
            PixelShuffle(factor: 2),
        ])
        checkGradients(net, input: random.tensor([2, 2, 6, 6]), random: &random)
        XCTAssertEqual(net.parameters.map(\.name), ["s.0.weight", "s.0.bias", "s.2.weight", "s.2.bias"])
    }

    func testEmbedding() {
        var random = TestRandom(seed: 16)
        let embedding = Embedding(name: "e", groups: 2, symbolCount: 5, dimension: 3, using: &random)
        let shape = [2, 2, 3, 3]
        let symbols = (0..<shape.reduce(1, *)).map { _ in Int.random(in: 0..<5, using: &random) }
        embedding.weight.zeroGradient()
        let output = embedding.forward(symbols: symbols, shape: shape)
        XCTAssertEqual(output.shape, [2, 6, 3, 3])
        let weights = random.tensor(output.shape)
        embedding.backward(weights)
        let epsilon: Float = 1e-2
        for j in 0..<embedding.weight.value.count {
            let saved = embedding.weight.value.data[j]
            embedding.weight.value.data[j] = saved + epsilon
            let plus = weightedSum(embedding.forward(symbols: symbols, shape: shape), weights)
            embedding.weight.value.data[j] = saved - epsilon
            let minus = weightedSum(embedding.forward(symbols: symbols, shape: shape), weights)
            embedding.weight.value.data[j] = saved
            assertClose(embedding.weight.gradient.data[j], (plus - minus) / Double(2 * epsilon),
                        absolute: 1e-3, relative: 1e-2, "d/dweight[\(j)]")
        }
    }

    func testMeanSquaredError() {
        var random = TestRandom(seed: 17)
        let prediction = random.tensor([2, 3, 2, 2]), target = random.tensor([2, 3, 2, 2])
        let (loss, gradient) = MeanSquaredError.evaluate(prediction: prediction, target: target)
        let expected = zip(prediction.data, target.data).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / 24
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-6)
        let epsilon: Float = 1e-2
        for j in 0..<prediction.count {
            var plus = prediction, minus = prediction
            plus.data[j] += epsilon
            minus.data[j] -= epsilon
            let numeric = Double(MeanSquaredError.evaluate(prediction: plus, target: target).loss
                - MeanSquaredError.evaluate(prediction: minus, target: target).loss) / Double(2 * epsilon)
            assertClose(gradient.data[j], numeric, absolute: 1e-4, relative: 1e-2, "d/dprediction[\(j)]")
        }
    }

    func testSoftmaxCrossEntropy() {
        var random = TestRandom(seed: 18)
        let (groups, k) = (2, 4)
        let logits = random.tensor([2, groups * k, 2, 3], in: -3...3)
        let targets = (0..<2 * groups * 6).map { _ in Int.random(in: 0..<k, using: &random) }
        let result = SoftmaxCrossEntropy.evaluate(logits: logits, targets: targets, groups: groups)
        // Direct definition: mean of log Σ exp(z) − z[target], in Double.
        var total: Double = 0
        for b in 0..<2 {
            for g in 0..<groups {
                for p in 0..<6 {
                    let z = (0..<k).map { Double(logits.data[((b * groups + g) * k + $0) * 6 + p]) }
                    total += log(z.map(exp).reduce(0, +)) - z[targets[(b * groups + g) * 6 + p]]
                }
            }
        }
        XCTAssertEqual(Double(result.nats), total / 24, accuracy: 1e-5)
        XCTAssertEqual(Double(result.bits), total / 24 / log(2), accuracy: 1e-5)
        let epsilon: Float = 1e-2
        for j in 0..<logits.count {
            var plus = logits, minus = logits
            plus.data[j] += epsilon
            minus.data[j] -= epsilon
            let numeric = Double(SoftmaxCrossEntropy.evaluate(logits: plus, targets: targets, groups: groups).nats
                - SoftmaxCrossEntropy.evaluate(logits: minus, targets: targets, groups: groups).nats) / Double(2 * epsilon)
            assertClose(result.gradient.data[j], numeric, absolute: 1e-4, relative: 2e-2, "d/dlogits[\(j)]")
        }
    }
}
