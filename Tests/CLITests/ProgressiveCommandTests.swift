import Foundation
import XCTest

/// The commands with a progressive model (quality level k = its first k stages) and the
/// `.vqc` version 2 files it writes, run as a user runs them.
final class ProgressiveRDTests: XCTestCase {
    func testProgressiveModelGivesOneCurvePointPerQualityLevel() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("images/photo-64x48.png"),
                                         to: images.appendingPathComponent("photo.png"))
        let progressive = CLI.fixtures.appendingPathComponent("models/progressive-tiny.safetensors").path
        let oneStage = CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path
        let csv = folder.appendingPathComponent("rd.csv").path, json = folder.appendingPathComponent("rd.json").path
        let result = try CLI.run(["rd", images.path, "--model", oneStage, "--model", progressive, "--csv", csv, "--json", json])
        XCTAssertEqual(result.status, 0, result.stderr)
        let table = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(table.count, 1 + 4, result.stdout)
        XCTAssertEqual(table[1...].map { String($0.prefix(24)).trimmingCharacters(in: .whitespaces) },
                       ["tiny-test", "stage-parity-fixture q1", "stage-parity-fixture q2", "stage-parity-fixture q3"])

        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.count, 1 + 4 + 4, "header, one image per curve point, one mean per curve point")
        func fields(_ row: String) -> [Substring] { row.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows[1...4].map { String(fields($0)[0]) },
                       ["tiny-test", "stage-parity-fixture q1", "stage-parity-fixture q2", "stage-parity-fixture q3"])
        // More stages, a larger file (the fixture's weights are not trained, so nothing is said of its MSE).
        let bytes = rows[2...4].map { Int(fields($0)[4])! }
        XCTAssertTrue(bytes[0] < bytes[1] && bytes[1] < bytes[2], "\(bytes)")
        XCTAssertTrue(rows[8].hasPrefix("stage-parity-fixture q3,MEAN,"), rows[8])

        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        XCTAssertEqual((object["models"] as? [String])?.count, 4)
        XCTAssertEqual(((object["results"] as? [String: Any])?["bpp"] as? [Double])?.count, 4)
    }
}
