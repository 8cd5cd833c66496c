import XCTest
@testable import Engine

final class OptimScheduleTests: XCTestCase {
    func testWarmupRisesLinearlyToPeakWithoutAZeroStep() {
        let schedule = LearningRateSchedule(peak: 1e-3, warmupSteps: 10)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 1e-4, accuracy: 1e-10)
        XCTAssertEqual(schedule.learningRate(atStep: 4), 5e-4, accuracy: 1e-10)
        XCTAssertEqual(schedule.learningRate(atStep: 9), 1e-3)
        XCTAssertEqual(schedule.learningRate(atStep: 10), 1e-3)
        XCTAssertEqual(schedule.learningRate(atStep: 1_000_000), 1e-3, "constant after the warm-up")
    }

    func testCosineDecayFromPeakToFloor() {
        let schedule = LearningRateSchedule(peak: 1e-3, floor: 1e-5, warmupSteps: 10, decay: .cosine(totalSteps: 110))
        XCTAssertEqual(schedule.learningRate(atStep: 10), 1e-3, "the decay starts at the peak")
        XCTAssertEqual(schedule.learningRate(atStep: 60), (1e-3 + 1e-5) / 2, accuracy: 1e-9, "halfway")
        let quarter: Float = 1e-5 + (1e-3 - 1e-5) * (1 + Float(0.5).squareRoot()) / 2 // cos(π/4) = √½
        XCTAssertEqual(schedule.learningRate(atStep: 35), quarter, accuracy: 1e-9, "a quarter of the way")
        XCTAssertEqual(schedule.learningRate(atStep: 110), 1e-5)
        XCTAssertEqual(schedule.learningRate(atStep: 5000), 1e-5)
        var previous = schedule.learningRate(atStep: 10)
        for step in 11...120 {
            let rate = schedule.learningRate(atStep: step)
            XCTAssertLessThanOrEqual(rate, previous, "step \(step)")
            XCTAssertGreaterThanOrEqual(rate, 1e-5)
            previous = rate
        }
        XCTAssertEqual(LearningRateSchedule(peak: 0.5, decay: .cosine(totalSteps: 100)).learningRate(atStep: 0), 0.5, "no warm-up")
    }

    func testStepDecayHalvesEveryIntervalDownToTheFloor() {
        let schedule = LearningRateSchedule(peak: 1e-3, floor: 1e-4, warmupSteps: 5, decay: .step(every: 100, factor: 0.5))
        XCTAssertEqual(schedule.learningRate(atStep: 5), 1e-3)
        XCTAssertEqual(schedule.learningRate(atStep: 104), 1e-3)
        XCTAssertEqual(schedule.learningRate(atStep: 105), 5e-4)
        XCTAssertEqual(schedule.learningRate(atStep: 255), 2.5e-4)
        XCTAssertEqual(schedule.learningRate(atStep: 305), 1.25e-4)
        XCTAssertEqual(schedule.learningRate(atStep: 405), 1e-4, "6.25e-5 is below the floor")
        XCTAssertEqual(schedule.learningRate(atStep: 100_000), 1e-4)
    }
}
