import XCTest
@testable import FileIO
import Foundation

final class AtomicFileTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "/vqcodec-fileio-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testWriteThenReadRoundTrips() throws {
        let path = folder + "/out.bin"
        let bytes: [UInt8] = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(bytes, to: path)
        XCTAssertEqual(try AtomicFile.read(path), bytes)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["out.bin"], "no temporary left behind")
    }

    func testReplacesExistingFileOnlyOnSuccess() throws {
        let path = folder + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        try AtomicFile.write([4, 5], to: path)
        XCTAssertEqual(try AtomicFile.read(path), [4, 5])
    }

    func testRefusesToOverwriteInputEvenThroughAnotherSpelling() throws {
        let path = folder + "/in.png"
        try AtomicFile.write([9, 9], to: path)
        XCTAssertThrowsError(try AtomicFile.write([1], to: folder + "/./in.png", refusingToOverwrite: [path])) { error in
            XCTAssertEqual(error as? FileIOError, .outputIsInput(path: folder + "/./in.png"))
        }
        XCTAssertEqual(try AtomicFile.read(path), [9, 9], "input untouched")
    }

    func testRefusesDestinationsThatAreNotRegularFiles() throws {
        // Renaming over /dev/null (or /dev/full) as root would replace the device node itself.
        for path in ["/dev/null", folder!] {
            XCTAssertThrowsError(try AtomicFile.write([1], to: path)) { error in
                XCTAssertEqual(error as? FileIOError, .notRegularFile(path: path))
            }
        }
        var info = stat()
        XCTAssertEqual(stat("/dev/null", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "/dev/null is still a device")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [], "no temporary left behind")
    }

    func testSymbolicLinkDestinationReplacesTheFileItNames() throws {
        let target = folder + "/target.bin", link = folder + "/link.bin"
        try AtomicFile.write([1, 2], to: target)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        try AtomicFile.write([3], to: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), target, "the link stays a link")
        XCTAssertEqual(try AtomicFile.read(target), [3])
        // And a link to an input is caught as the input.
        XCTAssertThrowsError(try AtomicFile.write([4], to: link, refusingToOverwrite: [target])) { error in
            XCTAssertEqual(error as? FileIOError, .outputIsInput(path: link))
        }
        XCTAssertEqual(try AtomicFile.read(target), [3])
    }

    func testMissingFolderIsAClearError() {
        XCTAssertThrowsError(try AtomicFile.write([1], to: folder + "/no/such/dir/out.bin")) { error in
            guard case .cannotCreate(let path, _)? = error as? FileIOError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, folder + "/no/such/dir/out.bin")
        }
    }

    func testReadOnlyFolderIsAClearErrorAndLeavesOldFile() throws {
        let path = folder + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        chmod(folder, 0o555)
        defer { chmod(folder, 0o755) }
        if getuid() == 0 { throw XCTSkip("root ignores folder permissions") }
        XCTAssertThrowsError(try AtomicFile.write([7], to: path))
        XCTAssertEqual(try AtomicFile.read(path), [1, 2, 3])
    }

    func testReadRefusesOversizedAndMissingFiles() throws {
        let path = folder + "/big.bin"
        try AtomicFile.write([UInt8](repeating: 0, count: 100), to: path)
        XCTAssertThrowsError(try AtomicFile.read(path, maxBytes: 99)) { error in
            XCTAssertEqual(error as? FileIOError, .tooLarge(path: path, bytes: 100, limit: 99))
        }
        XCTAssertThrowsError(try AtomicFile.read(folder + "/missing")) { error in
            XCTAssertEqual(error as? FileIOError, .notFound(path: folder + "/missing"))
        }
    }
}
