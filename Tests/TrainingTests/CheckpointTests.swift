import SafeTensors
import XCTest
import Engine
@testable import Training

final class CheckpointTests: XCTestCase {
    struct Run: Codable, Equatable { var seed: UInt64; var note: String }

    func testSaveKeepsOnlyTheLatestCheckpointAndLoadsItBack() throws {
        let root = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folder = CheckpointFolder(forOutput: root + "/m.safetensors")
        XCTAssertEqual(folder.path, root + "/m.safetensors.ckpt")
        XCTAssertFalse(folder.exists)
        func files(_ value: Float) -> [String: SafeTensorsFile] {
            ["model": SafeTensorsFile(metadata: ["k": "v"], tensors: ["w": StoredTensor(floats: [value, 2], shape: [2])]),
             "optimizer": SafeTensorsFile(tensors: ["m/w": StoredTensor(floats: [value], shape: [1])])]
        }
        try folder.save(step: 3, elapsedSeconds: 1.5, run: Run(seed: 7, note: "a"), files: files(1))
        try folder.save(step: 6, elapsedSeconds: 2.5, run: Run(seed: 7, note: "b"), files: files(4))
        XCTAssertTrue(folder.exists)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(),
                       ["checkpoint.json", "model-00000006.safetensors", "optimizer-00000006.safetensors"])
        let loaded = try folder.load(as: Run.self)
        XCTAssertEqual(loaded.step, 6)
        XCTAssertEqual(loaded.elapsedSeconds, 2.5)
        XCTAssertEqual(loaded.run, Run(seed: 7, note: "b"))
        XCTAssertEqual(loaded.files, files(4))
    }

    func testMissingAndDamagedManifestsAreErrors() throws {
        let root = TrainingFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folder = CheckpointFolder(path: root)
        XCTAssertThrowsError(try folder.load(as: Run.self)) { error in
            XCTAssertEqual(error as? CheckpointError, .missing(root))
            XCTAssertEqual("\(error)", "\(root): no checkpoint to resume (no checkpoint.json there)")
        }
        try Data(#"{"format":"something-else","step":1,"elapsedSeconds":0,"files":{},"run":{"seed":1,"note":""}}"#.utf8)
            .write(to: URL(fileURLWithPath: root + "/checkpoint.json"))
        XCTAssertThrowsError(try folder.load(as: Run.self)) { error in
            XCTAssertEqual(error as? CheckpointError, .invalidManifest(root + "/checkpoint.json",
                           reason: "format \"something-else\", expected \"vqcodec-checkpoint-1\""))
        }
        try Data(#"{"format":"vqcodec-checkpoint-1","step":1,"elapsedSeconds":0,"files":{"model":"../x"},"run":{"seed":1,"note":""}}"#.utf8)
            .write(to: URL(fileURLWithPath: root + "/checkpoint.json"))
        XCTAssertThrowsError(try folder.load(as: Run.self)) { error in
            XCTAssertEqual(error as? CheckpointError, .invalidManifest(root + "/checkpoint.json",
                           reason: "file name \"../x\" is not a plain name"))
        }
    }
}
