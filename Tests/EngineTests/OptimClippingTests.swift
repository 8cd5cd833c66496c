import XCTest
import SeededRandom
@testable import Engine

final class OptimClippingTests: XCTestCase {
    private func parameters(_ gradients: [[Float]]) -> [Parameter] {
        gradients.enumerated().map { index, gradient in
            let parameter = Parameter(name: "p\(index)", value: Tensor(zeros: [gradient.count]))
            parameter.gradient.data = gradient
            return parameter
        }
    }

    private func globalNorm(_ parameters: [Parameter]) -> Double {
        parameters.flatMap(\.gradient.data).reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    func testScalesTheGlobalNormToMaxNorm() {
        let ps = parameters([[3, 4], [12]]) // global norm 13
        let norm = clipGradientNorm(ps, maxNorm: 1.3)
        XCTAssertEqual(norm, 13)
        XCTAssertEqual(ps[0].gradient.data[0], 0.3, accuracy: 1e-6)
        XCTAssertEqual(ps[0].gradient.data[1], 0.4, accuracy: 1e-6)
        XCTAssertEqual(ps[1].gradient.data[0], 1.2, accuracy: 1e-6)
        XCTAssertEqual(globalNorm(ps), 1.3, accuracy: 1e-6)
    }

    func testPreservesDirectionOfManyGradients() {
        var random = SplitMix64(seed: 3)
        let original = (0..<5).map { n in (0..<(n * 37 + 1)).map { _ in random.float(in: -10...10) } }
        let ps = parameters(original)
        let before = globalNorm(ps)
        let norm = clipGradientNorm(ps, maxNorm: 2)
        XCTAssertEqual(Double(norm), before, accuracy: before * 1e-6)
        XCTAssertEqual(globalNorm(ps), 2, accuracy: 1e-5)
        let scale = Float(2 / before)
        for (parameter, gradient) in zip(ps, original) {
            for (clipped, raw) in zip(parameter.gradient.data, gradient) {
                XCTAssertEqual(clipped, raw * scale, accuracy: 1e-6)
            }
        }
    }

    func testLeavesSmallGradientsExactlyAlone() {
        let ps = parameters([[3, 4], [12]])
        XCTAssertEqual(clipGradientNorm(ps, maxNorm: 20), 13)
        XCTAssertEqual(ps[0].gradient.data, [3, 4])
        XCTAssertEqual(ps[1].gradient.data, [12])
        XCTAssertEqual(clipGradientNorm(ps, maxNorm: 13), 13, "exactly at the limit: unchanged")
        XCTAssertEqual(ps[1].gradient.data, [12])
    }

    func testNonFiniteNormIsReportedAndGradientsKept() {
        let ps = parameters([[1, .infinity], [2]])
        XCTAssertEqual(clipGradientNorm(ps, maxNorm: 1), .infinity)
        XCTAssertEqual(ps[1].gradient.data, [2])
        let nan = parameters([[.nan, 1]])
        XCTAssertTrue(clipGradientNorm(nan, maxNorm: 1).isNaN)
        XCTAssertEqual(nan[0].gradient.data[1], 1)
    }
}
