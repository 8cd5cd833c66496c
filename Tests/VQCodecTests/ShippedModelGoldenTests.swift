import XCTest
import Foundation
@testable import VQCodec

/// A shipped model is never replaced in place: every model the catalogue names (quality levels and
/// retired models alike) has a golden `.vqc` file in `Fixtures/golden/models/`, written by a
/// released vqcodec, and it must decode, with the model found by the name in the file's header as
/// `vqcodec decode` finds it, to exactly the symbols recorded beside it (the integer prior makes
/// that bit-exact on every machine) and to the pixels recorded beside it. The pixels come from the
/// float synthesis: identical on the machine that wrote them (and on this one when the test was
/// committed), and within one level on at most 0.1 % of samples where another BLAS kernel rounds
/// differently (the same allowance as the block-wise synthesis, README "Limits"). A model that
/// leaves the levels moves to the catalogue's `retired` list and keeps its golden files; a missing
/// golden file fails.
///
/// Regenerate only when a model is added, on purpose:
/// `VQCODEC_REGENERATE_GOLDEN=1 swift test --filter VQCodecTests.ShippedModelGoldenTests`. Existing
/// golden files are never rewritten, even then: a released file must keep decoding as it did.
final class ShippedModelGoldenTests: XCTestCase {
    static let fixtures = GoldenTests.fixtures
    static let source = fixtures.appendingPathComponent("images/photo-192x128.png")
    var regenerate: Bool { ProcessInfo.processInfo.environment["VQCODEC_REGENERATE_GOLDEN"] == "1" }
    /// The quantiser every golden file was written with: the nearest codes (what effort 0 searches
    /// from), so that a golden file tests the model and the format, not the encoder's choices.
    static var nearestCodes: VQCodec.EncodeOptions {
        var options = VQCodec.EncodeOptions()
        options.nearestCodes = true
        return options
    }

    func testEveryShippedModelDecodesItsGoldenFileExactly() throws {
        let catalogue = try ShippedModels.levels()
        let names = catalogue.levels.map(\.model) + catalogue.retired.map(\.model)
        XCTAssertFalse(names.isEmpty)
        try checkProgressiveGoldenFiles(catalogue)
        let folder = Self.fixtures.appendingPathComponent("golden/models")
        for name in names {
            let golden = folder.appendingPathComponent(name + ".vqc")
            let expected = folder.appendingPathComponent(name + ".png")
            let symbolsFile = folder.appendingPathComponent(name + ".symbols.txt")
            if regenerate && !FileManager.default.fileExists(atPath: golden.path) {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let model = try CodecModel(path: try XCTUnwrap(catalogue.path(ofModelNamed: name)))
                let encoded = try VQCodec.encode(try PNG.read(path: Self.source.path), model: model, options: Self.nearestCodes)
                try Data(encoded.bytes).write(to: golden)
                let decoded = try VQCodec.decode(encoded.bytes, model: model)
                try PNG.write(decoded.image, to: expected.path)
            }
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: golden.path),
                                      "\(name): no golden file \(golden.path); every shipped model needs one")
            let header = try VQCHeader.read(from: Array(bytes))
            XCTAssertEqual(header.modelName, name)
            let path = try XCTUnwrap(catalogue.path(ofModelNamed: header.modelName),
                                     "\(name): the catalogue no longer finds the model its golden file names")
            let model = try CodecModel(path: path)
            XCTAssertEqual(model.checksum, header.modelChecksum, "\(name): the model file was changed in place")
            let decoded = try VQCodec.decode(Array(bytes), model: model)
            XCTAssertTrue(decoded.isComplete)
            if regenerate && !FileManager.default.fileExists(atPath: symbolsFile.path) {
                try Self.symbolsText(decoded).write(to: symbolsFile, atomically: true, encoding: .utf8)
            }
            let recorded = try String(contentsOf: symbolsFile, encoding: .utf8)
            XCTAssertEqual(Self.symbolsText(decoded), recorded, "\(name): the golden file no longer decodes to the same symbols")
            let reference = try PNG.read(path: expected.path)
            XCTAssertEqual([decoded.image.width, decoded.image.height], [reference.width, reference.height])
            XCTAssertEqual(decoded.image.colorType, reference.colorType)
            let differences = zip(decoded.image.pixels, reference.pixels).map { abs(Int($0) - Int($1)) }
            XCTAssertLessThanOrEqual(differences.max() ?? 0, 1, "\(name): the golden file decodes to other pixels")
            XCTAssertLessThanOrEqual(differences.filter { $0 > 0 }.count * 1000, reference.pixels.count,
                                     "\(name): more than 0.1 % of samples moved")
        }
    }

    /// The progressive models' golden files: `NAME.vqc` (format version 2, every stage), `NAME.png`
    /// and `NAME.symbols.txt` (every stage), decoded with the model found by name; every cut of
    /// the file decodes to the first stages' symbols; today's encoder, with the nearest codes, writes
    /// the same bytes.
    func checkProgressiveGoldenFiles(_ catalogue: ShippedModels.Catalogue) throws {
        let folder = Self.fixtures.appendingPathComponent("golden/models")
        let image = try PNG.read(path: Self.source.path)
        for name in catalogue.progressive.map(\.model) {
            let golden = folder.appendingPathComponent(name + ".vqc")
            let expected = folder.appendingPathComponent(name + ".png")
            let symbolsFile = folder.appendingPathComponent(name + ".symbols.txt")
            let model = try ProgressiveCodecModel(path: try XCTUnwrap(catalogue.path(ofModelNamed: name)))
            if regenerate && !FileManager.default.fileExists(atPath: golden.path) {
                let encoded = try VQCodec.encode(image, model: model, options: Self.nearestCodes)
                try Data(encoded.bytes).write(to: golden)
                try PNG.write(try VQCodec.decode(encoded.bytes, model: model).image, to: expected.path)
            }
            let bytes = Array(try XCTUnwrap(FileManager.default.contents(atPath: golden.path),
                                            "\(name): no golden file \(golden.path); every shipped model needs one"))
            let header = try ProgressiveVQCHeader.read(from: bytes)
            XCTAssertEqual(header.modelName, name)
            XCTAssertEqual(model.checksum, header.modelChecksum, "\(name): the model file was changed in place")
            let decoded = try VQCodec.decode(bytes, model: model)
            if regenerate && !FileManager.default.fileExists(atPath: symbolsFile.path) {
                try Self.symbolsText(decoded).write(to: symbolsFile, atomically: true, encoding: .utf8)
            }
            XCTAssertEqual(Self.symbolsText(decoded), try String(contentsOf: symbolsFile, encoding: .utf8),
                           "\(name): the golden file no longer decodes to the same symbols")
            let reference = try PNG.read(path: expected.path)
            let differences = zip(decoded.image.pixels, reference.pixels).map { abs(Int($0) - Int($1)) }
            XCTAssertEqual(decoded.image.pixels.count, reference.pixels.count)
            XCTAssertLessThanOrEqual(differences.max() ?? 0, 1, "\(name): the golden file decodes to other pixels")
            XCTAssertLessThanOrEqual(differences.filter { $0 > 0 }.count * 1000, reference.pixels.count,
                                     "\(name): more than 0.1 % of samples moved")
            for stages in 1..<header.stageCount {
                let cut = try VQCodec.decode(try VQCodec.truncate(bytes, toStages: stages), model: model)
                XCTAssertEqual(cut.stageSymbols, Array(decoded.stageSymbols.prefix(stages)), "\(name) cut to \(stages)")
            }
            for threads in [1, 2] {
                var options = Self.nearestCodes
                options.threads = threads
                XCTAssertEqual(try VQCodec.encode(image, model: model, options: options).bytes, bytes,
                               "\(name), \(threads) thread(s)")
            }
        }
    }

    /// Every stage's symbols `[G_k, h, w]`, each as `symbolsText` writes one symbolic image.
    static func symbolsText(_ decoded: VQCodec.ProgressiveDecodeResult) -> String {
        let (h, w) = (decoded.header.fields.latentHeight, decoded.header.fields.latentWidth)
        var text = ""
        for (k, symbols) in decoded.stageSymbols.enumerated() {
            let groups = decoded.header.stages[k].groups
            text += "# stage \(k + 1) symbols [G=\(groups), h=\(h), w=\(w)], one row per line\n"
            for row in 0..<(groups * h) {
                text += symbols[(row * w)..<((row + 1) * w)].map(String.init).joined(separator: " ") + "\n"
            }
        }
        return text
    }

    /// The symbolic image `[G, h, w]` as text: a header line, then one row of indices per line.
    static func symbolsText(_ decoded: VQCodec.DecodeResult) -> String {
        let latent = decoded.header.latent
        var text = "# symbols [G=\(latent.groups), h=\(latent.height), w=\(latent.width)], one row per line\n"
        for row in 0..<(latent.groups * latent.height) {
            text += decoded.symbols[(row * latent.width)..<((row + 1) * latent.width)].map(String.init).joined(separator: " ") + "\n"
        }
        return text
    }

    /// The encoder is deterministic: today's vqcodec, with the nearest codes the golden files were
    /// written with, writes each golden file again byte for byte from its source photo (a
    /// deliberate change to the quantiser must show up here, as a diff in review).
    func testEncodingTheSourceAgainGivesTheGoldenBytes() throws {
        let catalogue = try ShippedModels.levels()
        let image = try PNG.read(path: Self.source.path)
        for level in catalogue.levels {
            let golden = Self.fixtures.appendingPathComponent("golden/models/\(level.model).vqc")
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: golden.path), "no golden file for \(level.model)")
            let model = try CodecModel(path: catalogue.path(of: level))
            for threads in [1, 2] {
                var options = Self.nearestCodes
                options.threads = threads
                let encoded = try VQCodec.encode(image, model: model, options: options)
                XCTAssertEqual(encoded.bytes, Array(bytes), "\(level.model), \(threads) thread(s)")
            }
        }
    }
}
