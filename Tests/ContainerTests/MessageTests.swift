import XCTest
import Container

/// The sentences users read, word for word.
final class MessageTests: XCTestCase {
    func testMessages() {
        let cases: [(ContainerError, String)] = [
            (.badSignature(found: Array("GIF89a\u{1}\u{0}".utf8)),
             "this is not a .vqc file: it starts with 47 49 46 38 39 61 01 00, not with the .vqc signature 89 56 51 43 0d 0a 1a 0a"),
            (.badSignature(found: [0x89, 0x56, 0x51, 0x43, 0x0A, 0x1A, 0x0A, 0x01]),
             "this is not a valid .vqc file: its signature is 89 56 51 43 0a 1a 0a 01 instead of 89 56 51 43 0d 0a 1a 0a, "
             + "damage typical of a text-mode or 7-bit transfer; copy the file again in binary mode"),
            (.pngGiven, "this is a PNG image, not a .vqc file; did you mean to encode it (vqcodec encode)?"),
            (.unsupportedVersion(found: 2, supported: 1),
             "this .vqc file uses format version 2, but this program reads only version 1; decode it with a newer vqcodec"),
            (.unsupportedVersion(found: 0, supported: 1),
             "this .vqc file claims format version 0, which does not exist (this program reads version 1); the file is damaged"),
            (.truncatedHeader(needed: 8, present: 0), "the file is empty; it was not written completely"),
            (.truncatedHeader(needed: 166, present: 100),
             "the file is truncated: its header needs at least 166 bytes but the file has only 100; "
             + "it was cut short (an interrupted copy or download?)"),
            (.headerCRCMismatch(stored: 0xDEADBEEF, computed: 0x1234),
             "the header is damaged: its stored CRC-32 is 0xDEADBEEF but its bytes give 0x00001234; the image cannot be decoded"),
            (.invalidField(.colorType, found: 2, allowed: "1 (gray) or 3 (RGB)"),
             "the colour type is 2, but it must be 1 (gray) or 3 (RGB); the file is damaged or was written by an incompatible encoder"),
            (.invalidField(.modelName, found: 7, allowed: "printable ASCII (0x20 to 0x7E)"),
             "the model name contains the byte 0x07, but it must be printable ASCII (0x20 to 0x7E); "
             + "the file is damaged or was written by an incompatible encoder"),
            (.inconsistentGeometry(.latentHeight, expected: 6, found: 7),
             "the latent height is 7, but the image size and stride require 6; "
             + "the file is damaged or was written by an incompatible encoder"),
            (.limitExceeded(.width, value: 70000, limit: 65535), "the width is 70000, more than the limit of 65535 this program accepts"),
            (.inconsistentTileTable(tile: 3, expectedOffset: 325, foundOffset: 324),
             "the tile table is inconsistent: tile 3 starts at byte 324, but the data before it ends at byte 325; "
             + "the file is damaged or was written by an incompatible encoder"),
            (.emptyTile(tile: 1),
             "tile 1 has length 0, but every tile stream holds at least one byte; the file is damaged or was written by an incompatible encoder"),
            (.truncatedTile(tile: 3, expectedEnd: 388, fileSize: 350),
             "the file is truncated: tile 3 ends at byte 388 but the file has only 350 bytes; it was cut short (an interrupted copy or download?)"),
            (.trailingBytes(expectedSize: 652, fileSize: 653),
             "the file has 1 unexpected bytes after its last tile (the .vqc data ends at byte 652, the file has 653); "
             + "it was appended to or joined with other data"),
            (.tileCRCMismatch(tile: 4, stored: 1, computed: 2),
             "tile 4 is damaged: its stored CRC-32 is 0x00000001 but its bytes give 0x00000002; the other tiles are not affected"),
            (.unknownModel(name: "q9", checksum: 0xAB),
             "the file was encoded with model \"q9\" (checksum 0x00000000000000AB), which is not among the models this program has; "
             + "decode it with the vqcodec or model file that encoded it"),
            (.wrongModel(fileModel: "q9", fileChecksum: 1, givenModel: "q3", givenChecksum: 2),
             "the file was encoded with model \"q9\" (checksum 0x0000000000000001), not with the model given, \"q3\" "
             + "(checksum 0x0000000000000002); decode it with \"q9\""),
            (.wrongModel(fileModel: "q9", fileChecksum: 1, givenModel: "q9", givenChecksum: 2),
             "the file was encoded with another version of model \"q9\" (checksum 0x0000000000000001); the model given has "
             + "checksum 0x0000000000000002; decode it with the model file that encoded it"),
        ]
        for (error, message) in cases { XCTAssertEqual(error.description, message) }
    }

    /// Version 2's errors, and the version messages of the reader of version-2 files.
    func testProgressiveMessages() {
        let damaged = "the file is damaged or was written by an incompatible encoder"
        let cases: [(ContainerError, String)] = [
            (.unsupportedVersion(found: 3, supported: 2),
             "this .vqc file uses format version 3, but this program reads only versions 1 and 2; decode it with a newer vqcodec"),
            (.unsupportedVersion(found: 0, supported: 2),
             "this .vqc file claims format version 0, which does not exist (this program reads versions 1 and 2); the file is damaged"),
            (.unsupportedVersion(found: 1, supported: 2),
             "this .vqc file uses format version 1, but it was given to the reader of version 2 files; read it with the "
             + "version-1 reader (VQCFormat.version(of:) tells which)"),
            (.invalidField(.stageCount, found: 0, allowed: "at least 1"), "the stage count is 0, but it must be at least 1; \(damaged)"),
            (.limitExceeded(.stageCount, value: 17, limit: 16), "the stage count is 17, more than the limit of 16 this program accepts"),
            (.limitExceeded(.totalGroups, value: 65, limit: 64),
             "the total number of groups is 65, more than the limit of 64 this program accepts"),
            (.limitExceeded(.streamCount, value: 24, limit: 23), "the stream count is 24, more than the limit of 23 this program accepts"),
            (.invalidStageField(stage: 3, .codebookSize, found: 1, allowed: "at least 2"),
             "the codebook size of stage 3 is 1, but it must be at least 2; \(damaged)"),
            (.stageLimitExceeded(stage: 2, .groups, value: 17, limit: 16),
             "the groups of stage 2 is 17, more than the limit of 16 this program accepts"),
            (.stageTableCRCMismatch(stage: 1, stored: 0xDEADBEEF, computed: 0x1234),
             "the stream table of stage 1 is damaged: its stored CRC-32 is 0xDEADBEEF but its bytes give 0x00001234; "
             + "the image cannot be decoded"),
            (.stageTableCRCMismatch(stage: 2, stored: 1, computed: 2),
             "the stream table of stage 2 is damaged: its stored CRC-32 is 0x00000001 but its bytes give 0x00000002; "
             + "stage 1 can still be decoded"),
            (.stageTableCRCMismatch(stage: 4, stored: 1, computed: 2),
             "the stream table of stage 4 is damaged: its stored CRC-32 is 0x00000001 but its bytes give 0x00000002; "
             + "stages 1 to 3 can still be decoded"),
            (.emptyStream(stage: 3, tile: 2),
             "stage 3, tile 2 has length 0, but every stream holds at least one byte; \(damaged)"),
            (.truncatedStream(stage: 1, tile: 4, expectedEnd: 490, fileSize: 480),
             "the file is truncated: stage 1, tile 4 ends at byte 490 but the file has only 480 bytes; it was cut short "
             + "(an interrupted copy or download?)"),
            (.truncatedStream(stage: 2, tile: 0, expectedEnd: 502, fileSize: 500),
             "the file is truncated: stage 2, tile 0 ends at byte 502 but the file has only 500 bytes; it was cut short "
             + "(an interrupted copy or download?); stage 1 is complete and can be decoded"),
            (.truncatedStream(stage: 3, tile: 5, expectedEnd: 618, fileSize: 600),
             "the file is truncated: stage 3, tile 5 ends at byte 618 but the file has only 600 bytes; it was cut short "
             + "(an interrupted copy or download?); stages 1 to 2 are complete and can be decoded"),
            (.streamCRCMismatch(stage: 3, tile: 2, stored: 1, computed: 2),
             "stage 3, tile 2 is damaged: its stored CRC-32 is 0x00000001 but its bytes give 0x00000002; "
             + "the other tiles and the earlier stages are not affected"),
            (.stageNotPresent(requested: 5, present: 4), "5 stages were asked for, but the file holds only 4; ask for 1 to 4"),
            (.stageNotPresent(requested: 2, present: 1), "2 stages were asked for, but the file holds only 1; ask for 1"),
            (.stageNotPresent(requested: 0, present: 4), "0 stages were asked for, but at least 1 is needed; ask for 1 to 4"),
        ]
        for (error, message) in cases { XCTAssertEqual(error.description, message) }
    }
}
