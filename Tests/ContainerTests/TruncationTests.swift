import XCTest
@testable import Container

/// Every proper prefix of a valid file is reported as truncated, with the exact facts, never as damage.
final class TruncationTests: XCTestCase {
    func testEveryPrefixIsATruncationError() throws {
        for sample in [Sample.small, Sample.gray16] {
            let file = try sample.encoded()
            let header = try VQCHeader.read(from: file)
            let nameLength = sample.fields.modelName.utf8.count
            for n in 0..<file.count {
                let prefix = Array(file.prefix(n))
                let expected: ContainerError
                switch n {
                case ..<8: expected = .truncatedHeader(needed: 8, present: n)
                case ..<10: expected = .truncatedHeader(needed: 10, present: n)
                case ..<51: expected = .truncatedHeader(needed: 51, present: n)
                case ..<(55 + nameLength): expected = .truncatedHeader(needed: 55 + nameLength, present: n)
                case ..<header.headerByteCount: expected = .truncatedHeader(needed: header.headerByteCount, present: n)
                default:
                    let tile = header.tiles.firstIndex { $0.end > n }!
                    expected = .truncatedTile(tile: tile, expectedEnd: header.tiles[tile].end, fileSize: n)
                }
                XCTAssertEqual(containerError { _ = try VQCFile(bytes: prefix) }, expected, "prefix of \(n) bytes")
                if n >= header.headerByteCount {
                    XCTAssertEqual(try VQCHeader.read(from: prefix), header, "the header alone reads from \(n) bytes")
                }
            }
        }
    }

    /// A reader that wants only the header can start from nothing and read what `needed` says.
    func testNeededBytesLeadToTheHeaderInFewSteps() throws {
        let file = try Sample.small.encoded()
        var have = 0
        var steps = 0
        while true {
            steps += 1
            do {
                let header = try VQCHeader.read(from: Array(file.prefix(have)))
                XCTAssertEqual(header.fields, Sample.small.fields)
                break
            } catch .truncatedHeader(let needed, let present) {
                XCTAssertEqual(present, have)
                XCTAssertGreaterThan(needed, have)
                have = needed
            }
        }
        XCTAssertEqual(have, 166)
        XCTAssertEqual(steps, 6, "0 → 8 → 10 → 51 → 66 → 166 → done")
    }
}
