import SafeTensors
import XCTest
import Container
import Engine
import Foundation

/// Damaged input found by fuzzing, through the real binary: each is a clear message and a
/// documented exit code, never a crash.
final class HostileInputCommandTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }
    var golden: String { CLI.fixtures.appendingPathComponent("golden/tiny-photo.vqc").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// A tile stream of eight 0xFF bytes (no encoder writes it) with a matching CRC: the range
    /// decoder refuses it, and the CLI reports an undecodable tile, exit 72.
    func testTileStreamOfEightFFBytesIsAnUndecodableTile() throws {
        let file = try VQCFile(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: golden))))
        var streams = try (0..<file.header.tileCount).map { Array(try file.tileStream($0)) }
        streams[1] = [UInt8](repeating: 0xFF, count: 8)
        let forged = try VQCWriter.encode(file.header.fields, tileStreams: streams)
        try Data(forged).write(to: URL(fileURLWithPath: path("forged.vqc")))
        let result = try CLI.run(["decode", path("forged.vqc"), path("out.png"), "--model", model])
        XCTAssertEqual(result.status, 72, result.stderr)
        XCTAssertTrue(result.stderr.contains("tile 1 cannot be decoded"), result.stderr)
        XCTAssertTrue(result.stderr.contains("eight 0xFF bytes"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.png")))
    }

    /// A value the integer prior's format forbids (a rescale shift of 0) is the user's input problem, exit 65.
    func testDamagedIntegerPriorValueIsInvalidInput() throws {
        var file = try SafeTensorsFile(contentsOf: model)
        let key = "prior_int.head.hidden.rescale"
        let rescale = try XCTUnwrap(file.tensors[key])
        var values = try rescale.int32s()
        values[1] = 0  // the shift of channel 0
        file.tensors[key] = StoredTensor(int32s: values, shape: rescale.shape)
        try file.write(to: path("damaged.safetensors"))
        let result = try CLI.run(["encode", photo, path("x.vqc"), "--model", path("damaged.safetensors")])
        XCTAssertEqual(result.status, 65, result.stderr)
        XCTAssertTrue(result.stderr.contains("tensor \"\(key)\": element 1 is 0, expected a shift in 1…62"), result.stderr)
    }

    /// A configuration claiming a far larger VQ-VAE than the file holds is refused at once, exit 65.
    func testConfigurationLargerThanTheWeightsIsInvalidInput() throws {
        var file = try SafeTensorsFile(contentsOf: model)
        file.metadata["vqvae.config"] = #"{"codebookSize":16,"groups":2,"latentChannels":1024,"stride":8,"width":1024}"#
        try file.write(to: path("forged.safetensors"))
        let result = try CLI.run(["encode", photo, path("x.vqc"), "--model", path("forged.safetensors")])
        XCTAssertEqual(result.status, 65, result.stderr)
        XCTAssertTrue(result.stderr.contains("describes a VQ-VAE of at least"), result.stderr)
    }
}
