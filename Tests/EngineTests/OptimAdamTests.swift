import SeededRandom
import SafeTensors
import XCTest
import Foundation
@testable import Engine

final class OptimAdamTests: XCTestCase {
    /// Three steps against the AdamW formulas evaluated in Double.
    func testMatchesTheFormulasForThreeSteps() {
        let start: [Double] = [0.5, -1.25, 2.0, 0.0]
        let gradients: [[Double]] = [[0.1, -3.0, 1e-3, 0.0], [-0.2, 2.5, 1e-3, 4.0], [0.05, 1.0, -2e-3, -4.0]]
        let (lr, beta1, beta2, epsilon, weightDecay) = (0.01, 0.8, 0.95, 1e-6, 0.1)
        let learningRates = [lr, lr, 0.5 * lr] // the third step overrides the rate

        let parameter = Parameter(name: "w", value: Tensor(shape: [2, 2], data: start.map(Float.init)))
        let adam = Adam(parameters: [parameter], learningRate: Float(lr), beta1: Float(beta1), beta2: Float(beta2),
                        epsilon: Float(epsilon), weightDecay: Float(weightDecay))
        var p = start, m = [Double](repeating: 0, count: 4), v = m
        for t in 1...3 {
            let g = gradients[t - 1], rate = learningRates[t - 1]
            for i in 0..<4 {
                p[i] *= 1 - rate * weightDecay
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(beta1, Double(t)))
                let vHat = v[i] / (1 - pow(beta2, Double(t)))
                p[i] -= rate * mHat / (vHat.squareRoot() + epsilon)
            }
            parameter.gradient.data = g.map(Float.init)
            adam.step(learningRate: t == 3 ? Float(rate) : nil)
            XCTAssertEqual(adam.stepCount, t)
            for i in 0..<4 {
                XCTAssertEqual(Double(parameter.value.data[i]), p[i], accuracy: 1e-6 * max(1, abs(p[i])), "step \(t), element \(i)")
            }
        }
        XCTAssertEqual(parameter.gradient.data, gradients[2].map(Float.init), "step leaves gradients alone")
    }

    /// With bias correction the first update moves each element by about lr, whatever the gradient's scale.
    func testFirstStepMovesByTheLearningRateForAnyGradientScale() {
        for scale: Float in [1e-3, 1, 1e3] {
            let parameter = Parameter(name: "w", value: Tensor(shape: [3], data: [1, 1, 1]))
            parameter.gradient.data = [scale, -scale, 0.5 * scale]
            let adam = Adam(parameters: [parameter], learningRate: 0.01)
            adam.step()
            XCTAssertEqual(parameter.value.data[0], 1 - 0.01, accuracy: 1e-6, "scale \(scale)")
            XCTAssertEqual(parameter.value.data[1], 1 + 0.01, accuracy: 1e-6, "scale \(scale)")
            XCTAssertEqual(parameter.value.data[2], 1 - 0.01, accuracy: 1e-6, "scale \(scale)")
        }
    }

    func testDecoupledWeightDecayShrinksWithoutGradient() {
        let decayed = Parameter(name: "w", value: Tensor(shape: [2], data: [2, -4]))
        let plain = Parameter(name: "b", value: Tensor(shape: [2], data: [2, -4]))
        let withDecay = Adam(parameters: [decayed], learningRate: 0.1, weightDecay: 0.5)
        let without = Adam(parameters: [plain], learningRate: 0.1)
        for _ in 0..<10 {
            withDecay.step()
            without.step()
        }
        let factor = pow(1 - 0.1 * 0.5, 10.0)
        XCTAssertEqual(Double(decayed.value.data[0]), 2 * factor, accuracy: 1e-5)
        XCTAssertEqual(Double(decayed.value.data[1]), -4 * factor, accuracy: 1e-5)
        XCTAssertEqual(plain.value.data, [2, -4], "a zero gradient and no decay leave the parameter exactly")
    }

    /// f(p) = Σ a_i (p_i − c_i)² with curvatures over four decades, under a warm-up + cosine schedule.
    func testConvergesOnAQuadratic() {
        var rng = SplitMix64(seed: 5)
        let curvature: [Float] = [0.1, 1, 10, 100]
        let target = (0..<4).map { _ in rng.float(in: -3...3) }
        let first = Parameter(name: "a", value: Tensor(shape: [2], data: [0, 0]))
        let second = Parameter(name: "b", value: Tensor(shape: [1, 2], data: [5, -5]))
        let adam = Adam(parameters: [first, second], learningRate: 0)
        let schedule = LearningRateSchedule(peak: 0.1, floor: 0, warmupSteps: 20, decay: .cosine(totalSteps: 2000))
        func loss() -> Float {
            let p = first.value.data + second.value.data
            return (0..<4).reduce(0) { $0 + curvature[$1] * (p[$1] - target[$1]) * (p[$1] - target[$1]) }
        }
        let initialLoss = loss()
        for step in 0..<2000 {
            let p = first.value.data + second.value.data
            let g = (0..<4).map { 2 * curvature[$0] * (p[$0] - target[$0]) }
            first.gradient.data = Array(g[0..<2])
            second.gradient.data = Array(g[2..<4])
            adam.step(learningRate: schedule.learningRate(atStep: step))
        }
        let p = first.value.data + second.value.data
        for i in 0..<4 { XCTAssertEqual(p[i], target[i], accuracy: 1e-3, "element \(i)") }
        XCTAssertLessThan(loss(), initialLoss * 1e-6)
    }

    /// Saving after 4 steps and resuming in a fresh optimiser gives bit-identical parameters to an
    /// uninterrupted run of 8 steps.
    func testStateRoundTripResumesExactly() throws {
        var rng = SplitMix64(seed: 9)
        let gradients = (0..<8).map { _ in (0..<6).map { _ in rng.float(in: -2...2) } }
        func makeParameters() -> [Parameter] {
            [Parameter(name: "conv.weight", value: Tensor(shape: [2, 2], data: [1, 2, 3, 4])),
             Parameter(name: "conv.bias", value: Tensor(shape: [2], data: [-1, 1]))]
        }
        func apply(_ g: [Float], _ parameters: [Parameter]) {
            parameters[0].gradient.data = Array(g[0..<4])
            parameters[1].gradient.data = Array(g[4..<6])
        }
        let straight = makeParameters()
        let straightAdam = Adam(parameters: straight, learningRate: 0.05, weightDecay: 0.01)
        for g in gradients { apply(g, straight); straightAdam.step() }

        let first = makeParameters()
        let firstAdam = Adam(parameters: first, learningRate: 0.05, weightDecay: 0.01)
        for g in gradients[0..<4] { apply(g, first); firstAdam.step() }
        let modelBytes = SafeTensorsFile(parameters: first).serialized()
        let stateBytes = firstAdam.state(metadata: ["run": "test"]).serialized()

        let resumed = makeParameters()
        try SafeTensorsFile(bytes: modelBytes).load(into: resumed)
        let resumedAdam = Adam(parameters: resumed, learningRate: 0.05, weightDecay: 0.01)
        let state = try SafeTensorsFile(bytes: stateBytes)
        XCTAssertEqual(state.metadata["optimizer"], "Adam")
        XCTAssertEqual(state.metadata["step"], "4")
        XCTAssertEqual(state.metadata["run"], "test")
        XCTAssertEqual(Set(state.tensors.keys), ["m/conv.weight", "v/conv.weight", "m/conv.bias", "v/conv.bias"])
        try resumedAdam.restore(from: state)
        XCTAssertEqual(resumedAdam.stepCount, 4)
        for g in gradients[4...] { apply(g, resumed); resumedAdam.step() }
        for (a, b) in zip(straight, resumed) {
            XCTAssertEqual(a.value.data.map(\.bitPattern), b.value.data.map(\.bitPattern), a.name)
        }
    }

    func testRestoreRejectsMismatchedStateAndChangesNothing() throws {
        let parameter = Parameter(name: "w", value: Tensor(shape: [2], data: [1, 2]))
        let adam = Adam(parameters: [parameter], learningRate: 0.1)
        parameter.gradient.data = [1, 1]
        adam.step()
        let good = adam.state()
        let fresh = Adam(parameters: [parameter], learningRate: 0.1)

        func assertRejects(_ file: SafeTensorsFile, _ expected: SafeTensorsError, line: UInt = #line) {
            XCTAssertThrowsError(try fresh.restore(from: file), line: line) { error in
                XCTAssertEqual(error as? SafeTensorsError, expected, line: line)
            }
            XCTAssertEqual(fresh.stepCount, 0, "a failed restore changes nothing", line: line)
        }
        var file = good
        file.metadata["optimizer"] = "SGD"
        assertRejects(file, .metadataMismatch(key: "optimizer", expected: "\"Adam\"", found: "SGD"))
        file = good
        file.metadata["step"] = "-3"
        assertRejects(file, .metadataMismatch(key: "step", expected: "a non-negative integer", found: "-3"))
        file = good
        file.tensors["v/w"] = nil
        assertRejects(file, .missingTensors(["v/w"]))
        file = good
        file.tensors["m/w"] = StoredTensor(floats: [0, 0, 0], shape: [3])
        assertRejects(file, .shapeMismatch(key: "m/w", expected: [2], found: [3]))
        file = good
        file.tensors["m/w"] = StoredTensor(floats: [0, 0], shape: [2], as: .f16)
        assertRejects(file, .wrongDType(key: "m/w", expected: [.f32], found: .f16))
        file = good
        file.tensors["m/other"] = StoredTensor(floats: [0], shape: [1])
        assertRejects(file, .unexpectedTensors(["m/other"]))
        XCTAssertEqual(SafeTensorsError.metadataMismatch(key: "optimizer", expected: "\"Adam\"", found: "SGD").description,
                       "metadata \"optimizer\" should be \"Adam\", found \"SGD\"")

        try fresh.restore(from: good)
        XCTAssertEqual(fresh.stepCount, 1)
        XCTAssertEqual(fresh.state(), good)
    }
}
