import SeededRandom
import XCTest
@testable import Container

/// Seeded random tests: valid descriptions round-trip; damaged files never crash the reader.
final class PropertyTests: XCTestCase {
    static let strides = [1, 2, 4, 8, 16, 32]

    static func randomSample(_ rng: inout SplitMix64) -> Sample {
        let width = Int.random(in: 1...300, using: &rng)
        let height = Int.random(in: 1...300, using: &rng)
        let stride = strides.randomElement(using: &rng)!
        let latent = LatentGeometry(imageWidth: width, imageHeight: height, stride: stride,
                                    groups: Int.random(in: 1...16, using: &rng),
                                    codebookSize: Int.random(in: 2...4096, using: &rng))
        var tileSize: TileSize
        repeat {  // keep the tile count small enough for a quick test
            tileSize = TileSize(height: Int.random(in: 1...latent.height, using: &rng),
                                width: Int.random(in: 1...latent.width, using: &rng))
        } while ((latent.height + tileSize.height - 1) / tileSize.height) * ((latent.width + tileSize.width - 1) / tileSize.width) > 200
        let name = String((0..<Int.random(in: 1...64, using: &rng)).map { _ in
            Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &rng)))
        })
        let fields = VQCHeaderFields(
            width: width, height: height, colorType: VQCColorType.allCases.randomElement(using: &rng)!,
            bitDepth: [1, 2, 4, 8, 16].randomElement(using: &rng)!, modelName: name,
            modelChecksum: rng.next(), latent: latent, tileSize: tileSize)
        let streams = (0..<fields.tileCount).map { _ in rng.bytes(Int.random(in: 1...40, using: &rng)) }
        return Sample(fields: fields, streams: streams)
    }

    func testRandomValidDescriptionsRoundTrip() throws {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<500 {
            let sample = Self.randomSample(&rng)
            let bytes = try sample.encoded()
            let file = try VQCFile(bytes: bytes)
            XCTAssertEqual(file.header.fields, sample.fields)
            XCTAssertEqual(file.header.tileCount, sample.streams.count)
            XCTAssertEqual(file.header.headerByteCount, sample.fields.headerByteCount)
            XCTAssertEqual(file.header.fileByteCount, bytes.count)
            XCTAssertEqual(try (0..<file.header.tileCount).map { Array(try file.tileStream($0)) }, sample.streams)
            XCTAssertEqual(try VQCWriter.encode(file.header.fields, tileStreams: sample.streams), bytes, "writing is deterministic")
        }
    }

    /// Each CRC covers its bytes, so any one changed byte of a valid file is reported, at open time
    /// or when its tile is checked.
    func testEverySingleByteChangeIsDetected() throws {
        let good = try Sample.small.encoded()
        for offset in good.indices {
            for delta: UInt8 in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x5A] {
                var bad = good
                bad[offset] ^= delta
                if let file = try? VQCFile(bytes: bad) {
                    XCTAssertFalse(file.verifyAllTiles().isEmpty, "byte \(offset) ^ \(delta) went unnoticed")
                }
            }
        }
    }

    /// Random damage (bit flips, overwritten, inserted and deleted runs, cuts, and field edits whose CRCs
    /// are recomputed so they reach the field checks) never crashes; whatever parses is self-consistent.
    func testRandomDamageNeverCrashes() throws {
        var rng = SplitMix64(seed: 2)
        let originals = [try Sample.small.encoded(), try Sample.gray16.encoded()]
        var parsed = 0
        for _ in 0..<4000 {
            let original = originals.randomElement(using: &rng)!
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 1: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 2: bytes.insert(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng)), at: at)
                case 3: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &rng)))
                case 4: bytes.removeSubrange(at...)
                default:
                    // A header field edit with valid CRCs (only while the layout is the original's).
                    guard bytes.count == original.count else { continue }
                    let headerEnd = try VQCHeader.read(from: original).headerByteCount
                    let field = Int.random(in: Layout.flags..<Layout.modelName, using: &rng)
                    bytes[field] = [0, 1, 0xFF, UInt8.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
                    Damage.reseal(&bytes, headerEnd: headerEnd)
                }
            }
            do {
                let file = try VQCFile(bytes: bytes)
                parsed += 1
                let header = file.header
                XCTAssertEqual(header.fileByteCount, bytes.count)
                XCTAssertEqual(header.tiles.first?.offset, header.headerByteCount)
                XCTAssertTrue(zip(header.tiles, header.tiles.dropFirst()).allSatisfy { $0.end == $1.offset })
                XCTAssertEqual(header.tileCount, header.tileRows * header.tileColumns)
                _ = file.verifyAllTiles()
                for index in 0..<header.tileCount { _ = try? file.tileStream(index) }
            } catch {  // the do block throws ContainerError only (typed throws)
                XCTAssertFalse(error.description.isEmpty)
            }
        }
        XCTAssertGreaterThan(parsed, 0, "some damage (inside tiles, or field edits) leaves a parseable file")
    }
}
