import XCTest
@testable import Engine

/// End to end: a tiny convolutional autoencoder (the codec's transforms in miniature) learns to
/// reconstruct synthetic images, which only happens if every forward and backward pass in the
/// chain is right and the parameter gradients reach the parameters.
final class AutoencoderTrainingTests: XCTestCase {
    /// Smooth colour ramps plus a disc, different per image: structured enough to compress.
    private func syntheticImages(count: Int, size: Int, random: inout TestRandom) -> Tensor {
        var images = Tensor(zeros: [count, 3, size, size])
        for n in 0..<count {
            let (cx, cy) = (Float.random(in: 4...12, using: &random), Float.random(in: 4...12, using: &random))
            let slopes = (0..<3).map { _ in Float.random(in: -0.05...0.05, using: &random) }
            for c in 0..<3 { for y in 0..<size { for x in 0..<size {
                let inside = (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) < 12
                let value = 0.5 + slopes[c] * Float(x + y - size) + (inside ? 0.3 : 0)
                images.data[((n * 3 + c) * size + y) * size + x] = value
            } } }
        }
        return images
    }

    func testTinyAutoencoderLearns() {
        var random = TestRandom(seed: 41)
        let width = 8
        let model = Sequential([
            Conv2d(name: "ae.0", inputChannels: 3, outputChannels: width, kernelSize: 3, stride: 2, padding: 1, using: &random),
            GDN(name: "ae.1", channels: width),
            Conv2d(name: "ae.2", inputChannels: width, outputChannels: width, kernelSize: 3, stride: 2, padding: 1, using: &random),
            Conv2d(name: "ae.3", inputChannels: width, outputChannels: 4 * width, kernelSize: 3, padding: 1, using: &random),
            PixelShuffle(factor: 2),
            GDN(name: "ae.5", channels: width, inverse: true),
            Conv2d(name: "ae.6", inputChannels: width, outputChannels: 12, kernelSize: 3, padding: 1, using: &random),
            PixelShuffle(factor: 2),
        ])
        let images = syntheticImages(count: 4, size: 16, random: &random)

        // Adam (Kingma and Ba 2015), inline: the optimiser module lives elsewhere.
        let parameters = model.parameters
        var firstMoments = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        var secondMoments = firstMoments
        let (learningRate, beta1, beta2, epsilon): (Float, Float, Float, Float) = (3e-3, 0.9, 0.999, 1e-8)

        var losses: [Float] = []
        for step in 1...300 {
            for p in parameters { p.zeroGradient() }
            let reconstruction = model.forward(images)
            let (loss, gradient) = MeanSquaredError.evaluate(prediction: reconstruction, target: images)
            losses.append(loss)
            _ = model.backward(gradient)
            let correction1 = 1 - powf(beta1, Float(step)), correction2 = 1 - powf(beta2, Float(step))
            for (k, p) in parameters.enumerated() {
                for j in 0..<p.value.count {
                    let g = p.gradient.data[j]
                    firstMoments[k][j] = beta1 * firstMoments[k][j] + (1 - beta1) * g
                    secondMoments[k][j] = beta2 * secondMoments[k][j] + (1 - beta2) * g * g
                    let update = (firstMoments[k][j] / correction1) / ((secondMoments[k][j] / correction2).squareRoot() + epsilon)
                    p.value.data[j] -= learningRate * update
                }
            }
        }
        let initial = losses[0], final = losses.suffix(10).reduce(0, +) / 10
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertLessThan(final, initial / 20, "MSE went from \(initial) to \(final)")
        // Better than the best flat colour per image and channel (its MSE is the variance), so the
        // model reproduces structure, not only each image's mean.
        var flatColourError: Double = 0
        for plane in 0..<12 {
            let values = images.data[plane * 256..<(plane + 1) * 256].map(Double.init)
            let mean = values.reduce(0, +) / 256
            flatColourError += values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 256 / 12
        }
        XCTAssertLessThan(Double(final), flatColourError / 4, "MSE \(final) against flat colours \(flatColourError)")
    }
}
