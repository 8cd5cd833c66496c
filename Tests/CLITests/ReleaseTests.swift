import XCTest
import Foundation
import VQCodec

/// What a user sees of the release: the version the binary prints is the library's and the newest
/// entry of CHANGELOG.md, and `vqcodec models` lists exactly the catalogue's quality levels.
final class ReleaseTests: XCTestCase {
    func testVersionIsTheLibrarysAndTheChangelogsNewest() throws {
        let result = try CLI.run(["--version"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), VQCodec.version)
        let changelog = try String(contentsOf: CLI.fixtures.deletingLastPathComponent().appendingPathComponent("CHANGELOG.md"),
                                   encoding: .utf8)
        let newest = try XCTUnwrap(changelog.split(separator: "\n").first { $0.hasPrefix("## [") && !$0.hasPrefix("## [Unreleased]") })
        XCTAssertTrue(newest.hasPrefix("## [\(VQCodec.version)] - "), "CHANGELOG.md's newest release is \(newest)")
    }

    func testModelsListsTheShippedLevelsOnly() throws {
        let result = try CLI.run(["models"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let catalogue = try ShippedModels.levels()
        for level in catalogue.levels { XCTAssertTrue(result.stdout.contains(level.model), result.stdout) }
        XCTAssertEqual(catalogue.retired, [], "0.1.0 ships its quality levels only")
        XCTAssertFalse(result.stdout.contains("retired"), result.stdout)
    }
}
