import XCTest
import Foundation

/// `vqcodec info`, run as a user runs it: exact output, messages and exit codes.
final class InfoCommandTests: XCTestCase {
    func fixture(_ path: String) -> String { CLI.fixtures.appendingPathComponent(path).path }

    func testGoldenFileIsDescribedAndVerified() throws {
        let path = fixture("golden/small.vqc")
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        XCTAssertEqual(result.stdout, """
            \(path): vqcodec image, format version 1
              image:   70 × 45 RGB (source: 8 bits per sample)
              model:   vqc-test-s8 (checksum 0123456789abcdef)
              latent:  6 × 9 positions at stride 8, 2 groups × 512 codes (at most 18.0 bits per position)
              tiles:   2 × 3 = 6 of 4 × 4 positions
              size:    652 bytes (header 166, payload 486), 1.6559 bits per pixel
              all 6 tile checksums verified

            """)
    }

    func testTruncatedFileShowsHeaderAndFailsWithTruncationCode() throws {
        let path = fixture("malformed/truncated.vqc")
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 70)
        XCTAssertEqual(result.stderr, "vqcodec: \(path): the file is truncated: tile 3 ends at byte 388 but the file "
                       + "has only 350 bytes; it was cut short (an interrupted copy or download?)\n")
        XCTAssertTrue(result.stdout.contains("     3      2×4 @4,0     324      64  e3088238  MISSING: file cut short"),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("     2      4×1 @0,8     204     120  21f7717f  ok"), result.stdout)
    }

    func testTruncatedCopyMadeHereFails() throws {
        // A truncated copy of the golden file made by the test itself, cut inside the header.
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture("golden/small.vqc")))
        let cut = folder.appendingPathComponent("cut.vqc")
        try bytes.prefix(60).write(to: cut)
        let result = try CLI.run(["info", cut.path])
        XCTAssertEqual(result.status, 70)
        XCTAssertTrue(result.stderr.hasPrefix("vqcodec: \(cut.path): the file is truncated: its header needs at least"),
                      result.stderr)
        XCTAssertEqual(result.stdout, "")
    }

    func testDamagedTileIsNamedWithChecksumCode() throws {
        let path = fixture("malformed/bad-crc.vqc")
        let result = try CLI.run(["info", path])
        XCTAssertEqual(result.status, 72)
        XCTAssertEqual(result.stderr, "vqcodec: \(path): tile 4 is damaged: its stored CRC-32 is 0x0BF8C448 but its "
                       + "bytes give 0x46CB9DD2; the other tiles are not affected\n")
        XCTAssertTrue(result.stdout.contains("DAMAGED: CRC 46cb9dd2 ≠ stored 0bf8c448"))
    }

    func testEachKindOfDamageHasItsOwnCode() throws {
        let cases: [(String, Int32, String)] = [
            ("malformed/empty.vqc", 70, "the file is empty"),
            ("malformed/truncated-header.vqc", 70, "the file is truncated: its header needs at least 166 bytes"),
            // A version-1 layout that claims version 2 is read as version 2: its preamble CRC fails.
            ("malformed/version2.vqc", 72, "the header is damaged"),
            ("malformed/bad-header-crc.vqc", 72, "the header is damaged"),
            ("malformed/text-mode.vqc", 65, "copy the file again in binary mode"),
            ("malformed/huge-dimensions.vqc", 65, "the width is 4000000000, more than the limit of 65535"),
            ("malformed/trailing-bytes.vqc", 65, "1 unexpected bytes after its last tile"),
            ("images/rgb8.png", 65, "this is a PNG image, not a .vqc file; did you mean to encode it"),
        ]
        for (file, code, message) in cases {
            let result = try CLI.run(["info", fixture(file)])
            XCTAssertEqual(result.status, code, file)
            XCTAssertTrue(result.stderr.contains(message), "\(file): \(result.stderr)")
            XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, "one line: \(result.stderr)")
        }
    }

    func testMissingFileAndUsageErrors() throws {
        let missing = try CLI.run(["info", "/nonexistent/x.vqc"])
        XCTAssertEqual(missing.status, 66)
        XCTAssertEqual(missing.stderr, "vqcodec: /nonexistent/x.vqc: no such file\n")

        let noArgument = try CLI.run(["info"])
        XCTAssertEqual(noArgument.status, 64)
        XCTAssertTrue(noArgument.stderr.contains("Missing expected argument '<file>'"), noArgument.stderr)
    }

    func testEverySubcommandHasHelp() throws {
        let root = try CLI.run(["--help"])
        XCTAssertEqual(root.status, 0)
        for sub in ["encode", "decode", "truncate", "info", "inspect", "codebook", "eval", "rd", "train", "bench"] {
            XCTAssertTrue(root.stdout.contains(sub))
            let help = try CLI.run([sub, "--help"])
            XCTAssertEqual(help.status, 0, sub)
            XCTAssertTrue(help.stdout.contains("USAGE: vqcodec \(sub)"), help.stdout)
        }
        for sub in [["train", "vqvae"], ["train", "prior"], ["bench", "coder"], ["bench", "engine"], ["bench", "prior"]] {
            let help = try CLI.run(sub + ["--help"])
            XCTAssertEqual(help.status, 0, "\(sub)")
            XCTAssertTrue(help.stdout.contains("USAGE: vqcodec \(sub.joined(separator: " "))"), help.stdout)
        }
    }
}
