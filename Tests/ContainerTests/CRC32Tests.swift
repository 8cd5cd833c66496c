import SeededRandom
import XCTest
import Container

final class CRC32Tests: XCTestCase {
    /// Bit-at-a-time CRC-32 straight from the definition (reflected polynomial 0xEDB88320).
    func referenceCRC32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    func testCheckValue() {
        XCTAssertEqual(crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(crc32([UInt8]()), 0)
    }

    func testAgreesWithTheDefinitionOnRandomData() {
        var rng = SplitMix64(seed: 3)
        for length in [1, 2, 3, 7, 64, 1000, 4097] {
            let bytes = rng.bytes(length)
            XCTAssertEqual(crc32(bytes), referenceCRC32(bytes), "length \(length)")
        }
    }

    func testIncrementalEqualsOneShotForEveryKindOfSequence() {
        var rng = SplitMix64(seed: 4)
        let bytes = rng.bytes(3000)
        var running = CRC32()
        running.update(bytes[0..<1000])                 // contiguous slice
        running.update(bytes[1000..<2000].lazy.map { $0 })  // no contiguous storage
        running.update(Array(bytes[2000...]))
        XCTAssertEqual(running.value, crc32(bytes))
        XCTAssertEqual(crc32(bytes[10..<20]), referenceCRC32(Array(bytes[10..<20])))
    }
}
