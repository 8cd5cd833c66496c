import XCTest
import Foundation
import FuzzHarness

/// Replays the committed fuzz corpus (`Fixtures/fuzz/<target>/`, built by `Tools/fuzz.sh merge`)
/// through the same entry points the fuzzer calls: every input must come back, thrown errors being
/// the expected outcome for bad input. The real fixtures must still be accepted whole, so that a
/// harness that stopped reaching the decoder fails here instead of fuzzing nothing.
final class FuzzCorpusTests: XCTestCase {
    static let fixtures = FuzzHarness.fixturesDirectory

    /// The corpus files of `target`, sorted; fails when the folder is missing or empty.
    func corpus(_ target: FuzzHarness.Target, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let folder = Self.fixtures + "/fuzz/" + target.rawValue
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertFalse(names.isEmpty, "\(folder) holds no corpus", file: file, line: line)
        return names.map { folder + "/" + $0 }
    }

    func run(_ target: FuzzHarness.Target, _ path: String) throws -> Bool {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return bytes.withUnsafeBytes { FuzzHarness.run(target, $0) }
    }

    /// Replays the corpus of `target`; returns how many inputs were accepted whole.
    func replay(_ target: FuzzHarness.Target) throws -> Int {
        try corpus(target).reduce(0) { count, path in count + (try run(target, path) ? 1 : 0) }
    }

    func testVQCCorpus() throws {
        XCTAssertGreaterThan(try replay(.vqc), 0, "no corpus input decodes: the corpus no longer reaches the decoder")
        XCTAssertTrue(try run(.vqc, Self.fixtures + "/golden/tiny-photo.vqc"), "the tiny model's golden file decodes")
        XCTAssertFalse(try run(.vqc, Self.fixtures + "/golden/small.vqc"), "small.vqc names another model")
        XCTAssertFalse(try run(.vqc, Self.fixtures + "/malformed/bad-crc.vqc"))
        // Version 2 is read by the container only (the codec does not decode it yet): whole and intact.
        XCTAssertTrue(try run(.vqc, Self.fixtures + "/golden/progressive.vqc"), "the version-2 golden file reads whole")
        for name in ["progressive-truncated.vqc", "progressive-bad-stage-table.vqc"] {
            XCTAssertFalse(try run(.vqc, Self.fixtures + "/malformed/" + name), name)
        }
        XCTAssertTrue(try run(.vqc, Self.fixtures + "/malformed/progressive-bad-crc.vqc"),
                      "a damaged stream reads once its CRC is repaired: the repair reaches past the version-2 CRCs")
    }

    func testPNGCorpus() throws {
        XCTAssertGreaterThan(try replay(.png), 0, "no corpus input decodes: the corpus no longer reaches the decoder")
        for name in ["photo-64x48.png", "rgb8-interlaced.png", "gray16-interlaced.png", "palette4.png", "rgba16-opaque.png"] {
            XCTAssertTrue(try run(.png, Self.fixtures + "/images/" + name), name)
        }
        for name in ["truncated.png", "bad-crc.png", "rgba8-transparent.png", "huge-dimensions.png"] {
            XCTAssertFalse(try run(.png, Self.fixtures + "/images/" + name), name)
        }
    }

    func testSafetensorsCorpus() throws {
        XCTAssertGreaterThan(try replay(.safetensors), 0, "no corpus input loads: the corpus no longer reaches the model loaders")
        XCTAssertTrue(try run(.safetensors, Self.fixtures + "/models/tiny.safetensors"), "the tiny model loads")
        XCTAssertFalse(try run(.safetensors, Self.fixtures + "/models/python-written.safetensors"), "not a codec model")
    }

    /// The CRC repair that lets mutations reach past the checksums recomputes exactly what the writer wrote.
    func testRepairingChecksumsRestoresTheWrittenCRCs() throws {
        let golden = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/golden/tiny-photo.vqc")))
        XCTAssertEqual(FuzzHarness.repairingChecksums(golden), golden)
        var damaged = golden
        let nameLength = Int(golden[50])
        let tableStart = 55 + nameLength
        for offset in [51 + nameLength, tableStart + 12, tableStart + 16 + 12, tableStart] { damaged[offset] ^= 0x5A }
        XCTAssertEqual(FuzzHarness.repairingChecksums(damaged), golden)
        XCTAssertNil(FuzzHarness.repairingChecksums(Array(golden.prefix(50))))
    }

    /// The same for version 2: the preamble CRC, the stream CRCs of every stage section, the section CRCs.
    func testRepairingChecksumsRestoresTheWrittenCRCsOfAVersion2File() throws {
        let golden = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/golden/progressive.vqc")))
        XCTAssertEqual(FuzzHarness.repairingChecksums(golden), golden)
        var damaged = golden
        // Preamble CRC (61), stage 1 tile 0's CRC (65 + 3 + 4), stage 3 tile 1's CRC (175 + 3 + 8 + 4), stage 4's CRC (230 + 51).
        for offset in [61, 72, 190, 281] { damaged[offset] ^= 0x5A }
        XCTAssertEqual(FuzzHarness.repairingChecksums(damaged), golden)
        XCTAssertNil(FuzzHarness.repairingChecksums(Array(golden.prefix(48))))
        // Cut inside stage 3: what is there is repaired, the rest left as it is.
        XCTAssertEqual(FuzzHarness.repairingChecksums(Array(golden.prefix(388))), Array(golden.prefix(388)))
    }
}
