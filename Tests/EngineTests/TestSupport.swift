import SeededRandom
import XCTest
@testable import Engine

/// The tests draw from the package's one seeded generator.
typealias TestRandom = SplitMix64

extension SplitMix64 {
    mutating func tensor(_ shape: [Int], in range: ClosedRange<Float> = -1...1) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, data: (0..<count).map { _ in Float.random(in: range, using: &self) })
    }

    /// Values uniform in ±range with magnitude at least `gap` (keeps ReLU inputs off the kink).
    mutating func tensorAvoidingZero(_ shape: [Int], gap: Float) -> Tensor {
        var t = tensor(shape)
        for i in t.data.indices where abs(t.data[i]) < gap { t.data[i] = t.data[i] < 0 ? -gap : gap }
        return t
    }
}

/// Σ weights ⊙ values, in Double.
func weightedSum(_ values: Tensor, _ weights: Tensor) -> Double {
    precondition(values.shape == weights.shape)
    var sum: Double = 0
    for i in values.data.indices { sum += Double(values.data[i]) * Double(weights.data[i]) }
    return sum
}

/// Sorted distinct indices, `count` of them (or all when fewer exist), drawn from `0..<total`.
func sampleIndices(_ total: Int, count: Int, using random: inout TestRandom) -> [Int] {
    if total <= count { return Array(0..<total) }
    var chosen = Set<Int>()
    while chosen.count < count { chosen.insert(Int.random(in: 0..<total, using: &random)) }
    return chosen.sorted()
}

/// Asserts that two derivatives agree to within `absolute + relative · max(|a|, |b|)`.
func assertClose(_ analytic: Float, _ numeric: Double, absolute: Double, relative: Double,
                 _ message: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
    let a = Double(analytic)
    let tolerance = absolute + relative * max(abs(a), abs(numeric))
    XCTAssert(abs(a - numeric) <= tolerance,
              "\(message()): analytic \(a), numeric \(numeric), tolerance \(tolerance)", file: file, line: line)
}

/// Double-sided finite-difference check of a layer's input gradient and of every parameter's
/// gradient, for the scalar loss `L = Σ w ⊙ layer(x)` with fixed random weights w.
/// Samples up to `samples` coordinates of the input and of each parameter. Returns the analytic
/// parameter gradients (by name) so callers can make further assertions about them.
@discardableResult
func checkGradients(
    _ layer: any Layer, input: Tensor, random: inout TestRandom,
    epsilon: Float = 1e-2, samples: Int = 24, absolute: Double = 1e-3, relative: Double = 5e-3,
    checkInput: Bool = true, file: StaticString = #filePath, line: UInt = #line
) -> [String: Tensor] {
    for p in layer.parameters { p.zeroGradient() }
    let output = layer.forward(input)
    let weights = random.tensor(output.shape)
    let gradInput = layer.backward(weights)
    XCTAssertEqual(gradInput.shape, input.shape, "input gradient shape", file: file, line: line)
    let loss = { (x: Tensor) in weightedSum(layer.forward(x), weights) }

    if checkInput {
        for j in sampleIndices(input.count, count: samples, using: &random) {
            var plus = input, minus = input
            plus.data[j] += epsilon
            minus.data[j] -= epsilon
            let numeric = (loss(plus) - loss(minus)) / Double(2 * epsilon)
            assertClose(gradInput.data[j], numeric, absolute: absolute, relative: relative,
                        "d/dinput[\(j)]", file: file, line: line)
        }
    }
    var gradients: [String: Tensor] = [:]
    for p in layer.parameters {
        gradients[p.name] = p.gradient
        for j in sampleIndices(p.value.count, count: samples, using: &random) {
            let saved = p.value.data[j]
            p.value.data[j] = saved + epsilon
            let lossPlus = loss(input)
            p.value.data[j] = saved - epsilon
            let lossMinus = loss(input)
            p.value.data[j] = saved
            let numeric = (lossPlus - lossMinus) / Double(2 * epsilon)
            assertClose(p.gradient.data[j], numeric, absolute: absolute, relative: relative,
                        "d/d\(p.name)[\(j)]", file: file, line: line)
        }
    }
    return gradients
}

