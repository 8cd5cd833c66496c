import ArgumentParser
import Container
import FileIO
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a .vqc file's header and verify its checksums.",
        discussion: """
            Prints the image size and colour type, the model that encoded it, the latent geometry, \
            the tile table and the file's bits per pixel, then checks the CRC-32 of every tile. \
            Exits with 0 when the file is intact, otherwise with the code of the first problem \
            found (see the README's exit codes).

            A progressive file (format version 2) also lists its stages (quality levels): groups \
            × codes, the bytes of each stage's streams, and the size and bits per pixel of the \
            file cut after that stage (what vqcodec truncate -q K writes); every stream's CRC-32 \
            is checked, and --tiles lists them per stage and tile.
            """)

    @Argument(help: "The .vqc file to inspect.")
    var file: String

    @Flag(name: .long, help: "List every tile (offset, length, CRC-32, status); per stage for a progressive file.")
    var tiles = false

    func run() throws {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(file, maxBytes: Int(UInt32.max)) } catch { throw fail(error, subject: file) }

        let version: UInt16
        do { version = try VQCFormat.version(of: bytes) } catch { throw fail(error, subject: file) }
        if version == ProgressiveVQCHeader.currentVersion { return try progressive(bytes) }
        let header: VQCHeader
        do { header = try VQCHeader.read(from: bytes) } catch { throw fail(error, subject: file) }
        print(Self.describe(header, path: file))

        // A truncated or padded file still shows its header and which tiles survived.
        var fileProblem: ContainerError?
        do { _ = try VQCFile(bytes: bytes) } catch { fileProblem = error }
        let damaged = header.verifyTiles(in: bytes)
        if tiles || !damaged.isEmpty {
            print("  tile  rows×cols at  offset  length  crc32       status")
            for (i, entry) in header.tiles.enumerated() {
                let rect = header.latentRect(ofTile: i)
                let status = damaged[i].map(Self.shortStatus) ?? "ok"
                print("  \(pad(i, 4))  \(pad("\(rect.height)×\(rect.width) @\(rect.top),\(rect.left)", 12))"
                      + "  \(pad(entry.offset, 6))  \(pad(entry.length, 6))  \(hex(entry.crc32))  \(status)")
            }
        }
        if let fileProblem, damaged.isEmpty || Self.isTruncation(fileProblem) {
            throw fail(fileProblem, subject: file)
        }
        if let first = damaged.min(by: { $0.key < $1.key }) {
            if damaged.count > 1 {
                let list = damaged.keys.sorted().map(String.init).joined(separator: ", ")
                printError("vqcodec: \(file): \(damaged.count) tiles are damaged: \(list)\n")
            }
            throw fail(first.value, subject: file)
        }
        print("  all \(header.tileCount) tile checksums verified")
    }

    static func describe(_ h: VQCHeader, path: String) -> String {
        let colour = h.colorType == .gray ? "gray" : "RGB"
        let uniformBits = Double(h.latent.groups) * log2(Double(h.latent.codebookSize))
        let bpp = h.bitsPerPixel
        return """
            \(path): vqcodec image, format version \(h.version)
              image:   \(h.width) × \(h.height) \(colour) (source: \(h.bitDepth) bits per sample)
              model:   \(h.modelName) (checksum \(hex64(h.modelChecksum)))
              latent:  \(h.latent.height) × \(h.latent.width) positions at stride \(h.latent.stride), \
            \(h.latent.groups) group\(h.latent.groups == 1 ? "" : "s") × \(h.latent.codebookSize) codes \
            (at most \(format(uniformBits, 1)) bits per position)
              tiles:   \(h.tileRows) × \(h.tileColumns) = \(h.tileCount) of \(h.tileSize.height) × \(h.tileSize.width) positions
              size:    \(h.fileByteCount) bytes (header \(h.headerByteCount), payload \(h.payloadByteCount)), \
            \(format(bpp, 4)) bits per pixel
            """
    }

    static func isTruncation(_ error: ContainerError) -> Bool {
        switch error {
        case .truncatedTile, .truncatedHeader, .truncatedStream, .trailingBytes: return true
        default: return false
        }
    }

    static func shortStatus(_ error: ContainerError) -> String {
        switch error {
        case .tileCRCMismatch(_, let stored, let computed): return "DAMAGED: CRC \(hex(computed)) ≠ stored \(hex(stored))"
        case .streamCRCMismatch(_, _, let stored, let computed): return "DAMAGED: CRC \(hex(computed)) ≠ stored \(hex(stored))"
        case .truncatedTile, .truncatedStream: return "MISSING: file cut short"
        default: return "DAMAGED"
        }
    }
}

extension InfoCommand {
    /// `info` of a progressive (version-2) file: header, stages, tiles; every stream's CRC-32.
    func progressive(_ bytes: [UInt8]) throws {
        let header: ProgressiveVQCHeader
        do { header = try ProgressiveVQCHeader.read(from: bytes) } catch { throw fail(error, subject: file) }
        print(Self.describe(header, path: file))

        var fileProblem: ContainerError?
        do { _ = try ProgressiveVQCFile(bytes: bytes) } catch { fileProblem = error }
        let damaged = header.verifyStreams(in: bytes)
        if tiles || !damaged.isEmpty {
            print("  stage  tile  rows×cols at  offset  length  crc32       status")
            for stage in 1...header.stageCount {
                for tile in 0..<header.tileCount {
                    let entry = header.stream(stage: stage, tile: tile), rect = header.latentRect(ofTile: tile)
                    let status = damaged[VQCStreamIndex(stage: stage, tile: tile)].map(Self.shortStatus) ?? "ok"
                    print("  \(pad(stage, 5))  \(pad(tile, 4))  \(pad("\(rect.height)×\(rect.width) @\(rect.top),\(rect.left)", 12))"
                          + "  \(pad(entry.offset, 6))  \(pad(entry.length, 6))  \(hex(entry.crc32))  \(status)")
                }
            }
        }
        if let fileProblem, damaged.isEmpty || Self.isTruncation(fileProblem) {
            throw fail(fileProblem, subject: file)
        }
        if let first = damaged.min(by: { $0.key < $1.key }) {
            if damaged.count > 1 {
                let list = damaged.keys.sorted().map { "\($0.stage).\($0.tile)" }.joined(separator: ", ")
                printError("vqcodec: \(file): \(damaged.count) streams are damaged (stage.tile): \(list)\n")
            }
            throw fail(first.value, subject: file)
        }
        print("  all \(header.stageCount * header.tileCount) stream checksums verified "
              + "(\(header.stageCount) stages × \(header.tileCount) tiles)")
    }

    static func describe(_ h: ProgressiveVQCHeader, path: String) -> String {
        let colour = h.fields.colorType == .gray ? "gray" : "RGB"
        let pixels = Double(h.width) * Double(h.height)
        var stageLines = ""
        for (index, stage) in h.stages.enumerated() {
            let streamBytes = h.streams[index].reduce(0) { $0 + $1.length }
            let cut = h.fileByteCount(stages: index + 1)
            stageLines += "\n  \(pad(index + 1, 5))  \(pad("\(stage.groups) × \(stage.codebookSize)", 12))  \(pad(streamBytes, 12))"
                + "  \(pad(cut, 11))  \(pad(format(8 * Double(cut) / pixels, 4), 9))"
        }
        let tileSize = h.fields.tileSize
        return """
            \(path): vqcodec image, format version \(h.version) (progressive: \(h.stageCount) quality level\(h.stageCount == 1 ? "" : "s"))
              image:   \(h.width) × \(h.height) \(colour) (source: \(h.fields.bitDepth) bits per sample)
              model:   \(h.modelName) (checksum \(hex64(h.modelChecksum)))
              latent:  \(h.fields.latentHeight) × \(h.fields.latentWidth) positions at stride \(h.fields.stride)
              tiles:   \(h.tileRows) × \(h.tileColumns) = \(h.tileCount) of \(tileSize.height) × \(tileSize.width) positions
              size:    \(h.fileByteCount) bytes (header \(h.headerByteCount), payload \(h.payloadByteCount)), \
            \(format(h.bitsPerPixel, 4)) bits per pixel
              stages:  quality level K is the file cut after stage K (vqcodec truncate -q K)
              stage  groups×codes  stream bytes  file bytes  file bpp
            """ + stageLines
    }
}

func pad(_ value: Any, _ width: Int) -> String {
    let s = "\(value)"
    return s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

func hex(_ v: UInt32) -> String {
    let d = String(v, radix: 16)
    return String(repeating: "0", count: 8 - d.count) + d
}

func hex64(_ v: UInt64) -> String {
    let d = String(v, radix: 16)
    return String(repeating: "0", count: 16 - d.count) + d
}

func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

