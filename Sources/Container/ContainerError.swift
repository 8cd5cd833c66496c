/// A header field, named in errors the way `Formats/vqc.md` names it.
public enum VQCField: String, Sendable, CaseIterable {
    case flags
    case width
    case height
    case pixelCount = "pixel count"
    case colorType = "colour type"
    case bitDepth = "bit depth"
    case stride
    case groups
    case codebookSize = "codebook size"
    case latentHeight = "latent height"
    case latentWidth = "latent width"
    case tileHeight = "tile height"
    case tileWidth = "tile width"
    case tileCount = "tile count"
    case modelNameLength = "model name length"
    case modelName = "model name"
    case tileLength = "tile length"
    case fileSize = "file size"
    /// Version 2: the number of stages the file holds.
    case stageCount = "stage count"
    /// Version 2: the groups of all stages together, Σ G_k.
    case totalGroups = "total number of groups"
    /// Version 2: stages × tiles.
    case streamCount = "stream count"
}

/// Everything that can be wrong with a `.vqc` file, one case per kind of damage
/// (`Formats/vqc.md` §5). Each case carries the facts; ``description`` turns them into a sentence.
public enum ContainerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not start with the `.vqc` signature; `found` holds its first (up to 8) bytes.
    case badSignature(found: [UInt8])
    /// The file is a PNG image, given where a `.vqc` file was expected.
    case pngGiven
    /// The format version is not one this reader understands.
    case unsupportedVersion(found: UInt16, supported: UInt16)
    /// The file ends inside its header. `needed` bytes let the reader take its next step.
    case truncatedHeader(needed: Int, present: Int)
    /// The preamble CRC or the header CRC does not match the header's bytes.
    case headerCRCMismatch(stored: UInt32, computed: UInt32)
    /// A field holds a value the format forbids; `allowed` says which values it permits.
    case invalidField(VQCField, found: UInt64, allowed: String)
    /// A field contradicts the others (the latent size must follow from the image size and stride).
    case inconsistentGeometry(VQCField, expected: UInt64, found: UInt64)
    /// A field is larger than the reader's (or the format's) limit.
    case limitExceeded(VQCField, value: UInt64, limit: UInt64)
    /// A tile's stream does not start where the previous one ends (or, for tile 0, where the header ends).
    case inconsistentTileTable(tile: Int, expectedOffset: UInt64, foundOffset: UInt64)
    /// A tile's stream has length 0.
    case emptyTile(tile: Int)
    /// The file ends before the end of this tile's stream (the first such tile).
    case truncatedTile(tile: Int, expectedEnd: Int, fileSize: Int)
    /// The file continues after the end of the last tile.
    case trailingBytes(expectedSize: Int, fileSize: Int)
    /// A tile's bytes do not match its CRC-32.
    case tileCRCMismatch(tile: Int, stored: UInt32, computed: UInt32)
    /// Version 2: a field of one stage's description (its groups or codebook size) holds a value the
    /// format forbids. Stages are numbered from 1.
    case invalidStageField(stage: Int, VQCField, found: UInt64, allowed: String)
    /// Version 2: a field of one stage's description is larger than the reader's (or the format's) limit.
    case stageLimitExceeded(stage: Int, VQCField, value: UInt64, limit: UInt64)
    /// Version 2: a stage's section of the header (its groups, codebook size and stream table) does not
    /// match its CRC. The stages before it are not affected.
    case stageTableCRCMismatch(stage: Int, stored: UInt32, computed: UInt32)
    /// Version 2: a stream has length 0.
    case emptyStream(stage: Int, tile: Int)
    /// Version 2: the file ends before the end of this stream (the first such stream, in file order);
    /// every stream before it, so every stage before `stage`, is complete.
    case truncatedStream(stage: Int, tile: Int, expectedEnd: Int, fileSize: Int)
    /// Version 2: a stream's bytes do not match its CRC-32.
    case streamCRCMismatch(stage: Int, tile: Int, stored: UInt32, computed: UInt32)
    /// Version 2: a number of stages was asked for that the file does not hold (`requested` outside 1 … `present`).
    case stageNotPresent(requested: Int, present: Int)
    /// No available model matches the file's model (raised by the codec).
    case unknownModel(name: String, checksum: UInt64)
    /// The model supplied is not the one that encoded the file (raised by the codec).
    case wrongModel(fileModel: String, fileChecksum: UInt64, givenModel: String, givenChecksum: UInt64)

    public var description: String {
        let damaged = "the file is damaged or was written by an incompatible encoder"
        switch self {
        case .badSignature(let found):
            if found.count >= 4 && found[1...3].elementsEqual("VQC".utf8) {
                return "this is not a valid .vqc file: its signature is \(hexBytes(found)) instead of "
                    + "\(hexBytes(vqcSignature)), damage typical of a text-mode or 7-bit transfer; "
                    + "copy the file again in binary mode"
            }
            return "this is not a .vqc file: it starts with \(hexBytes(found)), not with the .vqc signature "
                + "\(hexBytes(vqcSignature))"
        case .pngGiven:
            return "this is a PNG image, not a .vqc file; did you mean to encode it (vqcodec encode)?"
        case .unsupportedVersion(let found, let supported):
            if supported > 1 {
                // A version-2 reader: `supported` is the newest version it knows.
                let known = supported == 2 ? "versions 1 and 2" : "versions 1 to \(supported)"
                if found > supported {
                    return "this .vqc file uses format version \(found), but this program reads only \(known); "
                        + "decode it with a newer vqcodec"
                }
                if found >= 1 {
                    return "this .vqc file uses format version \(found), but it was given to the reader of version "
                        + "\(supported) files; read it with the version-\(found) reader (VQCFormat.version(of:) tells which)"
                }
                return "this .vqc file claims format version \(found), which does not exist (this program reads "
                    + "\(known)); the file is damaged"
            }
            if found > supported {
                return "this .vqc file uses format version \(found), but this program reads only version "
                    + "\(supported); decode it with a newer vqcodec"
            }
            return "this .vqc file claims format version \(found), which does not exist (this program reads "
                + "version \(supported)); the file is damaged"
        case .truncatedHeader(let needed, let present):
            if present == 0 { return "the file is empty; it was not written completely" }
            return "the file is truncated: its header needs at least \(needed) bytes but the file has only "
                + "\(present); it was cut short (an interrupted copy or download?)"
        case .headerCRCMismatch(let stored, let computed):
            return "the header is damaged: its stored CRC-32 is \(hex32(stored)) but its bytes give "
                + "\(hex32(computed)); the image cannot be decoded"
        case .invalidField(.modelName, let found, let allowed):
            return "the model name contains the byte \(hexByte(found)), but it must be \(allowed); \(damaged)"
        case .invalidField(let field, let found, let allowed):
            return "the \(field.rawValue) is \(found), but it must be \(allowed); \(damaged)"
        case .inconsistentGeometry(let field, let expected, let found):
            return "the \(field.rawValue) is \(found), but the image size and stride require \(expected); \(damaged)"
        case .limitExceeded(let field, let value, let limit):
            return "the \(field.rawValue) is \(value), more than the limit of \(limit) this program accepts"
        case .inconsistentTileTable(let tile, let expectedOffset, let foundOffset):
            return "the tile table is inconsistent: tile \(tile) starts at byte \(foundOffset), but the data "
                + "before it ends at byte \(expectedOffset); \(damaged)"
        case .emptyTile(let tile):
            return "tile \(tile) has length 0, but every tile stream holds at least one byte; \(damaged)"
        case .truncatedTile(let tile, let expectedEnd, let fileSize):
            return "the file is truncated: tile \(tile) ends at byte \(expectedEnd) but the file has only "
                + "\(fileSize) bytes; it was cut short (an interrupted copy or download?)"
        case .trailingBytes(let expectedSize, let fileSize):
            return "the file has \(fileSize - expectedSize) unexpected bytes after its last tile (the .vqc data "
                + "ends at byte \(expectedSize), the file has \(fileSize)); it was appended to or joined with other data"
        case .tileCRCMismatch(let tile, let stored, let computed):
            return "tile \(tile) is damaged: its stored CRC-32 is \(hex32(stored)) but its bytes give "
                + "\(hex32(computed)); the other tiles are not affected"
        case .invalidStageField(let stage, let field, let found, let allowed):
            return "the \(field.rawValue) of stage \(stage) is \(found), but it must be \(allowed); \(damaged)"
        case .stageLimitExceeded(let stage, let field, let value, let limit):
            return "the \(field.rawValue) of stage \(stage) is \(value), more than the limit of \(limit) this program accepts"
        case .stageTableCRCMismatch(let stage, let stored, let computed):
            return "the stream table of stage \(stage) is damaged: its stored CRC-32 is \(hex32(stored)) but its bytes give "
                + "\(hex32(computed)); " + (stage > 1 ? "\(stagesBefore(stage)) can still be decoded" : "the image cannot be decoded")
        case .emptyStream(let stage, let tile):
            return "stage \(stage), tile \(tile) has length 0, but every stream holds at least one byte; \(damaged)"
        case .truncatedStream(let stage, let tile, let expectedEnd, let fileSize):
            return "the file is truncated: stage \(stage), tile \(tile) ends at byte \(expectedEnd) but the file has only "
                + "\(fileSize) bytes; it was cut short (an interrupted copy or download?)"
                + (stage > 1 ? "; \(stagesBefore(stage)) \(stage == 2 ? "is" : "are") complete and can be decoded" : "")
        case .streamCRCMismatch(let stage, let tile, let stored, let computed):
            return "stage \(stage), tile \(tile) is damaged: its stored CRC-32 is \(hex32(stored)) but its bytes give "
                + "\(hex32(computed)); the other tiles and the earlier stages are not affected"
        case .stageNotPresent(let requested, let present):
            let range = present == 1 ? "1" : "1 to \(present)"
            if requested < 1 { return "\(requested) stages were asked for, but at least 1 is needed; ask for \(range)" }
            return "\(requested) stages were asked for, but the file holds only \(present); ask for \(range)"
        case .unknownModel(let name, let checksum):
            return "the file was encoded with model \"\(name)\" (checksum \(hex64(checksum))), which is not "
                + "among the models this program has; decode it with the vqcodec or model file that encoded it"
        case .wrongModel(let fileModel, let fileChecksum, let givenModel, let givenChecksum):
            if fileModel == givenModel {
                return "the file was encoded with another version of model \"\(fileModel)\" (checksum "
                    + "\(hex64(fileChecksum))); the model given has checksum \(hex64(givenChecksum)); "
                    + "decode it with the model file that encoded it"
            }
            return "the file was encoded with model \"\(fileModel)\" (checksum \(hex64(fileChecksum))), not with "
                + "the model given, \"\(givenModel)\" (checksum \(hex64(givenChecksum))); decode it with \"\(fileModel)\""
        }
    }
}

/// "stage 1" or "stages 1 to k−1": the stages before `stage`.
private func stagesBefore(_ stage: Int) -> String { stage == 2 ? "stage 1" : "stages 1 to \(stage - 1)" }

private func hexBytes(_ bytes: [UInt8]) -> String {
    bytes.map { hexDigits(UInt64($0), count: 2) }.joined(separator: " ")
}

private func hexByte(_ value: UInt64) -> String { "0x" + hexDigits(value, count: 2).uppercased() }
private func hex32(_ value: UInt32) -> String { "0x" + hexDigits(UInt64(value), count: 8).uppercased() }
private func hex64(_ value: UInt64) -> String { "0x" + hexDigits(value, count: 16).uppercased() }

private func hexDigits(_ value: UInt64, count: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, count - digits.count)) + digits
}
