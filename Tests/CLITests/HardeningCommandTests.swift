import XCTest
import Foundation
import Images

/// Limits, damage and destinations, run as a user runs them: each case's exit status and message.
final class HardeningCommandTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }
    var mounts: [String] = []

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws {
        for mount in mounts.reversed() { _ = try? Mounts.run("/bin/umount", [mount]) }
        try? FileManager.default.removeItem(at: folder)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    func bytes(_ file: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: file)) }

    /// Encodes the photo into `name` with small tiles (12 tiles).
    func encodePhoto(_ name: String) throws {
        let result = try CLI.run(["encode", photo, path(name), "--model", model, "--tile-size", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testMaxPixelsRefusesLargeImagesBeforeReadingThem() throws {
        let refused = try CLI.run(["encode", photo, path("p.vqc"), "--model", model, "--max-pixels", "3071"])
        XCTAssertEqual(refused.status, 65)
        XCTAssertEqual(refused.stderr, "vqcodec: \(photo): image is 64x48 pixels, more than the limit of 65535x65535 "
                       + "and 3071 pixels in all; --max-pixels raises the limit for a file you trust\n")
        XCTAssertEqual(try CLI.run(["encode", photo, path("p.vqc"), "--model", model, "--max-pixels", "3072"]).status, 0)

        let decode = try CLI.run(["decode", path("p.vqc"), path("p.png"), "--model", model, "--max-pixels", "3071"])
        XCTAssertEqual(decode.status, 65)
        XCTAssertEqual(decode.stderr, "vqcodec: \(path("p.vqc")): the pixel count is 3072, more than the limit of 3071 "
                       + "this program accepts; --max-pixels raises the limit for a file you trust\n")

        // A 57-byte PNG claiming 100000 × 100000 pixels is refused from its header.
        let huge = try CLI.run(["encode", CLI.fixtures.appendingPathComponent("images/huge-dimensions.png").path,
                                path("h.vqc"), "--model", model])
        XCTAssertEqual(huge.status, 65)
        XCTAssertTrue(huge.stderr.contains("more than the limit of 65535x65535"), huge.stderr)
        let badOption = try CLI.run(["encode", photo, path("x.vqc"), "--model", model, "--max-pixels", "0"])
        XCTAssertEqual(badOption.status, 64)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["p.vqc"])
    }

    func testFlippedBitNamesTheTileAndSalvageFillsIt() throws {
        try encodePhoto("p.vqc")
        var damaged = try bytes(path("p.vqc"))
        damaged[damaged.count - 1] ^= 0x10  // last byte: tile 11's stream
        try damaged.write(to: folder.appendingPathComponent("d.vqc"))

        let strict = try CLI.run(["decode", path("d.vqc"), path("d.png"), "--model", model])
        XCTAssertEqual(strict.status, 72)
        XCTAssertTrue(strict.stderr.hasPrefix("vqcodec: \(path("d.vqc")): tile 11 is damaged: its stored CRC-32 is"), strict.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("d.png")))

        let salvaged = try CLI.run(["decode", path("d.vqc"), path("d.png"), "--model", model, "--salvage"])
        XCTAssertEqual(salvaged.status, 74)
        let lines = salvaged.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, salvaged.stderr)
        XCTAssertTrue(lines[0].hasPrefix("vqcodec: \(path("d.vqc")): tile 11 (pixels 48,32, 16 × 16) filled with mid-grey: tile 11 is damaged"), salvaged.stderr)
        XCTAssertEqual(lines[1], "vqcodec: \(path("d.vqc")): salvaged: 1 of 12 tiles were damaged and filled with mid-grey; \(path("d.png")) written")
        let image = try PNG.read(path: path("d.png"))
        for y in 32..<48 { for x in 48..<64 { XCTAssertEqual(image[x, y, 1], 128) } }

        // Truncated: every tile past the cut is named.
        let intact = try bytes(path("p.vqc"))
        try intact.prefix(intact.count - 9).write(to: folder.appendingPathComponent("t.vqc"))
        let truncated = try CLI.run(["decode", path("t.vqc"), path("t.png"), "--model", model])
        XCTAssertEqual(truncated.status, 70)
        let cut = try CLI.run(["decode", path("t.vqc"), path("t.png"), "--model", model, "--salvage"])
        XCTAssertEqual(cut.status, 74, cut.stderr)
        XCTAssertTrue(cut.stderr.contains("salvaged: 3 of 12 tiles"), cut.stderr)
    }

    func testDecodeGivesEachKindOfProblemItsOwnCode() throws {
        let s8 = CLI.fixtures.deletingLastPathComponent().appendingPathComponent("Models/shipped/vq8-q4.safetensors").path
        try encodePhoto("p.vqc")
        var version3 = try bytes(path("p.vqc"))
        version3[8] = 3  // the version field, little-endian u16 after the 8-byte signature
        try version3.write(to: folder.appendingPathComponent("version3.vqc"))
        let cases: [([String], Int32, String)] = [
            ([CLI.fixtures.appendingPathComponent("malformed/truncated.vqc").path, "--model", model], 70, "the file is truncated: tile 3 ends at byte 388"),
            ([path("p.vqc"), "--model", s8], 67, "the file was encoded with model \"tiny-test\""),
            ([path("version3.vqc"), "--model", model], 71, "uses format version 3, but this program reads only versions 1 and 2"),
            // A version-1 layout that claims version 2 is read as version 2: its preamble CRC fails.
            ([CLI.fixtures.appendingPathComponent("malformed/version2.vqc").path, "--model", model], 72, "the header is damaged"),
            ([CLI.fixtures.appendingPathComponent("malformed/bad-header-crc.vqc").path, "--model", model], 72, "the header is damaged"),
            ([path("missing.vqc"), "--model", model], 66, "no such file"),
            ([photo, "--model", model], 65, "this is a PNG image, not a .vqc file"),
        ]
        for (arguments, code, message) in cases {
            let result = try CLI.run(["decode", arguments[0], path("out.png")] + arguments.dropFirst())
            XCTAssertEqual(result.status, code, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.png")))
        }
    }

    func testOutputOverInputIsRefusedThroughLinks() throws {
        try FileManager.default.copyItem(atPath: photo, toPath: path("in.png"))
        try FileManager.default.linkItem(atPath: path("in.png"), toPath: path("hard.vqc"))
        try FileManager.default.createSymbolicLink(atPath: path("soft.vqc"), withDestinationPath: path("in.png"))
        for output in ["hard.vqc", "soft.vqc", "./in.png"] {
            let result = try CLI.run(["encode", path("in.png"), folder.path + "/" + output, "--model", model])
            XCTAssertEqual(result.status, 73, output)
            XCTAssertTrue(result.stderr.contains("refusing to write the output over the input"), result.stderr)
        }
        XCTAssertEqual(try bytes(path("in.png")), try bytes(photo))
    }

    func testDevicesReadOnlyAndFullDestinationsGiveExit73() throws {
        try encodePhoto("p.vqc")
        let device = try CLI.run(["decode", path("p.vqc"), "/dev/full", "--model", model])
        XCTAssertEqual(device.status, 73)
        XCTAssertEqual(device.stderr, "vqcodec: /dev/full: not a regular file (a device, folder or pipe); outputs are written only as regular files\n")
        var info = stat()
        XCTAssertEqual(stat("/dev/full", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "/dev/full is still a device")

        // Read-only: a read-only tmpfs as root (root ignores permissions), a 0555 folder otherwise.
        let readOnly = path("ro")
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard try Mounts.run("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", readOnly]) == 0 else {
                throw XCTSkip("cannot mount a tmpfs here")
            }
            mounts.append(readOnly)
        } else {
            chmod(readOnly, 0o555)
        }
        let ro = try CLI.run(["decode", path("p.vqc"), readOnly + "/x.png", "--model", model])
        XCTAssertEqual(ro.status, 73)
        XCTAssertTrue(ro.stderr.hasPrefix("vqcodec: \(readOnly)/x.png: cannot create output: "), ro.stderr)
        chmod(readOnly, 0o755)

        // Full: a 64 KiB tmpfs holding an earlier output, then filled.
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let full = path("full")
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        guard try Mounts.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", full]) == 0 else {
            throw XCTSkip("cannot mount a tmpfs here")
        }
        mounts.append(full)
        XCTAssertEqual(try CLI.run(["decode", path("p.vqc"), full + "/x.png", "--model", model]).status, 0)
        let previous = try bytes(full + "/x.png")
        let filler = open(full + "/filler", O_WRONLY | O_CREAT, 0o644)
        var block = [UInt8](repeating: 0, count: 4096)
        while write(filler, &block, block.count) > 0 {}
        close(filler)
        let noSpace = try CLI.run(["decode", path("p.vqc"), full + "/x.png", "--model", model])
        XCTAssertEqual(noSpace.status, 73)
        XCTAssertEqual(noSpace.stderr, "vqcodec: \(full)/x.png: write failed: No space left on device; the previous file, if any, is unchanged\n")
        XCTAssertEqual(try bytes(full + "/x.png"), previous, "the earlier output is intact")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: full).sorted(), ["filler", "x.png"], "no temporary left")
    }
}

enum Mounts {
    /// Runs a program quietly and returns its exit status.
    static func run(_ program: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
