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
            """)

    @Argument(help: "The .vqc file to inspect.")
    var file: String

    @Flag(name: .long, help: "List every tile (offset, length, CRC-32, status).")
    var tiles = false

    func run() throws {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(file, maxBytes: Int(UInt32.max)) } catch { throw fail(error, subject: file) }

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
        case .truncatedTile, .truncatedHeader, .trailingBytes: return true
        default: return false
        }
    }

    static func shortStatus(_ error: ContainerError) -> String {
        switch error {
        case .tileCRCMismatch(_, let stored, let computed): return "DAMAGED: CRC \(hex(computed)) ≠ stored \(hex(stored))"
        case .truncatedTile: return "MISSING: file cut short"
        default: return "DAMAGED"
        }
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

