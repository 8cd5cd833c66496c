import XCTest
import Foundation
import RangeCoder
import SafeTensors
import IntegerPrior

/// The integer prior is the only source of the range coder's tables, and its tables must be the
/// same bits on every machine. The module graph keeps floating-point and BLAS code out of it:
/// `Package.swift` gives `IntegerPrior` no dependency but `SafeTensors`, `RangeCoder` and its integer
/// C kernels (`CIntegerKernels`, which `IntegerKernelsTests` reads for floating-point types). SwiftPM
/// can still let an undeclared import compile when the other module happens to be built first, so
/// this test reads the sources too.
final class ModuleSeamTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let allowedImports: Set<String> = ["Foundation", "RangeCoder", "SafeTensors", "CIntegerKernels"]

    func testIntegerPriorImportsOnlyTheModelFileReaderAndTheCoder() throws {
        let folder = Self.root.appendingPathComponent("Sources/IntegerPrior")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThanOrEqual(files.count, 5, "the integer prior's sources are in \(folder.path)")
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for module in Self.imports(in: text) {
                XCTAssertTrue(Self.allowedImports.contains(module),
                              "Sources/IntegerPrior/\(file) imports \(module); the coding path may use only \(Self.allowedImports.sorted())")
            }
        }
    }

    func testPackageGivesIntegerPriorNoOtherDependency() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let line = try XCTUnwrap(manifest.split(separator: "\n").first { $0.contains(#".target(name: "IntegerPrior""#) })
        XCTAssertTrue(line.hasSuffix(#"dependencies: ["SafeTensors", "RangeCoder", "CIntegerKernels"]),"#), String(line))
    }

    /// The check itself works: it sees imports in their usual spellings.
    func testImportScannerFindsEverySpelling() {
        let text = "import Engine\n@testable import CBLAS\n  import struct Engine.Tensor\n@_exported import Prior\n// import Nothing\nlet x = 1"
        XCTAssertEqual(Self.imports(in: text), ["Engine", "CBLAS", "Engine", "Prior"])
    }

    /// Module names of the `import` declarations of a Swift source (attributes and kinds allowed).
    static func imports(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            var words = line.split(separator: " ").map(String.init)
            while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
            guard words.first == "import", words.count >= 2 else { return nil }
            let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
            let path = kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]
            return String(path.split(separator: ".").first ?? "")
        }
    }

    /// The module works on its own: a model file's integer prior codes a map and decodes it back.
    func testIntegerPriorCodesAMapFromAModelFile() throws {
        let file = try SafeTensorsFile(contentsOf: Self.root.appendingPathComponent("Fixtures/models/tiny.safetensors").path)
        let prior = try IntegerPrior(file: file)
        let (height, width) = (5, 7)
        let symbols = (0..<(prior.groups * height * width)).map { Int32(($0 * 7 + 3) % prior.codebookSize) }
        var encoder = RangeEncoder()
        prior.forEachTable(symbols: symbols, height: height, width: width) { symbol, table in
            encoder.encode(symbol: symbol, table: table)
        }
        let stream = encoder.finish()
        var decoder = try RangeDecoder(bytes: stream)
        let decoded = try prior.decode(height: height, width: width) { table in try decoder.decode(table: table) }
        XCTAssertEqual(decoded, symbols)
        XCTAssertGreaterThan(prior.bits(symbols: symbols, height: height, width: width), 0)

        // Coding from the weights, without tables: the same bytes, the same bits, the same symbols.
        var direct = RangeEncoder()
        let bits = prior.encode(symbols: symbols, height: height, width: width, into: &direct)
        XCTAssertEqual(direct.finish(), stream)
        XCTAssertEqual(bits, prior.bits(symbols: symbols, height: height, width: width), accuracy: 1e-9)
        var directDecoder = try RangeDecoder(bytes: stream)
        XCTAssertEqual(try prior.decode(height: height, width: width, from: &directDecoder), symbols)
    }
}
