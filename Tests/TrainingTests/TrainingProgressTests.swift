import XCTest
@testable import Training

final class TrainingProgressTests: XCTestCase {
    let fields = [ProgressField.number("mse", 0.0123456, decimals: 4, label: "mse"),
                  ProgressField.number("psnr_db", 19.0849, decimals: 2, label: "psnr", unit: "dB"),
                  ProgressField(column: "codes_g0,codes_g1", text: "codes 3/4 4/4", csv: "3,4")]

    func testLinesAndCSVRows() throws {
        let folder = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let csv = folder + "/run.log.csv"
        let output = CapturedOutput()
        do {
            let progress = try TrainingProgress(totalSteps: 200, csvPath: csv, interactive: false, write: output.write)
            progress.report(step: 10, fields: fields)
            progress.message("checkpoint saved")
        }
        let lines = output.text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasPrefix("step 10/200 (5.0%)  "), String(lines[0]))
        XCTAssertTrue(lines[0].contains(" steps/s  ETA "))
        XCTAssertTrue(lines[0].hasSuffix("  mse 0.0123  psnr 19.08 dB  codes 3/4 4/4"), String(lines[0]))
        XCTAssertEqual(lines[1], "checkpoint saved")

        // A resumed run appends rows under the same header.
        let resumed = try TrainingProgress(totalSteps: 200, firstStep: 10, elapsedSeconds: 100, csvPath: csv,
                                           interactive: false, write: { _ in })
        resumed.report(step: 20, fields: fields)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0], ["step", "elapsed_s", "steps_per_s", "mse", "psnr_db", "codes_g0", "codes_g1"])
        XCTAssertEqual(rows[1][0], "10")
        XCTAssertEqual(Array(rows[1][3...]), ["0.0123456", "19.085", "3", "4"])
        XCTAssertEqual(rows[2][0], "20")
        XCTAssertGreaterThanOrEqual(Double(rows[2][1])!, 100, "elapsed time continues from the checkpoint")
    }

    func testOnATerminalTheLineIsRewrittenInPlace() throws {
        let output = CapturedOutput()
        let progress = try TrainingProgress(totalSteps: 4, csvPath: nil, interactive: true, write: output.write)
        progress.report(step: 1, fields: fields)
        progress.report(step: 2, fields: fields)
        progress.message("done")
        XCTAssertTrue(output.text.hasPrefix("\rstep 1/4 (25.0%)"))
        XCTAssertTrue(output.text.contains("\u{1B}[K\rstep 2/4 (50.0%)"))
        XCTAssertTrue(output.text.hasSuffix("\u{1B}[K\ndone\n"))
    }

    func testDurations() {
        XCTAssertEqual(TrainingProgress.duration(42.4), "42s")
        XCTAssertEqual(TrainingProgress.duration(725), "12m05s")
        XCTAssertEqual(TrainingProgress.duration(3720), "1h02m")
        XCTAssertEqual(TrainingProgress.duration(.infinity), "?")
    }

    func testUnwritableLogIsAnError() {
        XCTAssertThrowsError(try TrainingProgress(totalSteps: 1, csvPath: "/nonexistent-folder/x.csv", interactive: false)) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent-folder/x.csv: cannot open the training log for appending: "), "\(error)")
        }
    }
}
