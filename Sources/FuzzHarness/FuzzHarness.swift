import Container
import Engine
import Foundation
import Images
import IntegerPrior
import Prior
import SafeTensors
import Transforms
import VQCodec

/// Entry points that feed untrusted bytes to vqcodec's readers, for the fuzzer (`vqcodec-fuzz`,
/// built by `Tools/fuzz.sh`) and for `FuzzCorpusTests`, which replays the committed corpus
/// (`Fixtures/fuzz/`).
///
/// Every thrown error is an expected outcome: bad input must become an error. What counts as a
/// finding is a trap (precondition, overflow, out-of-range index), a sanitizer report, a hang or
/// an allocation beyond the fuzzer's memory limit. Each entry point returns true when the input was
/// accepted whole (decoded or loaded without error), so the tests can check that the valid seeds
/// still reach the decoder.
public enum FuzzHarness {
    /// The three readers a fuzz run can target (`VQC_FUZZ_TARGET`).
    public enum Target: String, CaseIterable, Sendable {
        case vqc, png, safetensors
    }

    /// Runs the reader of `target` on `data`.
    @discardableResult
    public static func run(_ target: Target, _ data: UnsafeRawBufferPointer) -> Bool {
        switch target {
        case .vqc: return vqc(data)
        case .png: return png(data)
        case .safetensors: return safetensors(data)
        }
    }

    // MARK: .vqc

    /// Limits for fuzzed `.vqc` files: small enough that a header claiming the largest image they
    /// allow still decodes in milliseconds with the tiny model (the default limits admit 268 MP
    /// images, whose decoding is slow by design, not a bug).
    public static let containerLimits = ContainerLimits(maxDimension: 2048, maxPixels: 1 << 16, maxGroups: 16,
                                                        maxCodebookSize: 4096, maxTiles: 4096)

    /// Reads the header, the file and its tiles, then decodes it with the tiny fixture model,
    /// strictly and salvaging; a version-2 (progressive) file also goes through every container
    /// reader of version 2 (``progressive(_:)``). The same steps run a second time on a copy whose
    /// CRCs are made to match (``repairingChecksums(_:)``), so that mutations reach the fields and
    /// streams behind the CRCs. Returns true when the input, or its repaired copy, decodes strictly
    /// or, for version 2, reads whole with every stream intact.
    @discardableResult
    public static func vqc(_ data: UnsafeRawBufferPointer) -> Bool {
        let bytes = [UInt8](data)
        var accepted = decodeVQC(bytes)
        if let repaired = repairingChecksums(bytes), repaired != bytes, decodeVQC(repaired) { accepted = true }
        return accepted
    }

    /// The format's own ceilings (every limit above them acts as them): for reading headers only,
    /// which allocates at most a tile table the bytes hold.
    static let formatCeilings = ContainerLimits(maxDimension: .max, maxPixels: .max, maxGroups: .max,
                                                maxCodebookSize: .max, maxTiles: .max, maxStages: .max,
                                                maxTotalGroups: .max, maxStreams: .max)

    private static func decodeVQC(_ bytes: [UInt8]) -> Bool {
        let progressiveRead = progressive(bytes)
        for limits in [ContainerLimits(), formatCeilings] {
            guard let header = try? VQCHeader.read(from: bytes, limits: limits) else { continue }
            // What `vqcodec info` shows about a header, for every tile.
            _ = (header.bitsPerPixel, header.fileByteCount, header.tileRows, header.tileColumns)
            for tile in 0..<header.tileCount { _ = header.latentRect(ofTile: tile) }
        }
        if let file = try? VQCFile(bytes: bytes, limits: containerLimits) {
            _ = file.verifyAllTiles()
        }
        var options = VQCodec.DecodeOptions()
        options.threads = 1
        options.limits = containerLimits
        let decoded = (try? VQCodec.decode(bytes, model: tinyModel, options: options)) != nil
        options.salvage = true
        _ = try? VQCodec.decode(bytes, model: tinyModel, options: options)
        return decoded || progressiveRead
    }

    /// Every reader of version-2 files on `bytes`: the header at the default limits and at the
    /// format's ceilings, the strict file, each truncation, the first k stages for every k, the
    /// intact stages. What they return is checked against the writer, so a reader that accepts
    /// what it should not, or a cut that is not the directly written file, traps (a finding).
    /// Returns true when the file reads whole with every stream intact.
    static func progressive(_ bytes: [UInt8]) -> Bool {
        for limits in [ContainerLimits(), formatCeilings] {
            guard let header = try? ProgressiveVQCHeader.read(from: bytes, limits: limits) else { continue }
            _ = (header.bitsPerPixel, header.payloadByteCount, header.tileRows, header.tileColumns)
            for stage in 1...header.stageCount { _ = (header.fileByteCount(stages: stage), header.latent(ofStage: stage)) }
            for tile in 0..<header.tileCount { _ = header.latentRect(ofTile: tile) }
            _ = header.verifyStreams(in: bytes)
        }
        var accepted = false
        if let file = try? ProgressiveVQCFile(bytes: bytes, limits: containerLimits), file.verifyAllStreams().isEmpty {
            accepted = true
            let streams = file.header.streams.map { $0.map { Array(bytes[$0.offset..<$0.end]) } }
            for k in 1...file.header.stageCount {
                let cut = try? file.truncated(toStages: k)
                let direct = try? VQCWriter.encode(file.header.fields.keepingStages(k), stageStreams: Array(streams.prefix(k)),
                                                   limits: containerLimits)
                precondition(cut != nil && cut?.bytes == direct, "cutting to \(k) stages is not the file written with \(k) stages")
            }
        }
        if let (intact, _) = try? ProgressiveVQCFile.readIntactStages(from: bytes, limits: containerLimits) {
            precondition(intact.verifyAllStreams().isEmpty, "readIntactStages returned a damaged stream")
            for k in 1...intact.header.stageCount {
                let first = try? ProgressiveVQCFile(bytes: bytes, stages: k, limits: containerLimits)
                precondition(first?.bytes == (try? intact.truncated(toStages: k))?.bytes,
                             "the first \(k) stages read differently from the intact stages cut to \(k)")
            }
        }
        return accepted
    }

    /// `bytes` with the preamble CRC, the tile table's offsets and CRCs and the header CRC
    /// recomputed from the fields (`Formats/vqc.md` §2), as far as the bytes present allow; nil
    /// when the bytes end before the preamble CRC. Tile lengths are kept as they are.
    /// For a version-2 file (`Formats/vqc.md` §8.2): the preamble CRC, each stage section's offsets
    /// and stream CRCs and the section's CRC.
    public static func repairingChecksums(_ original: [UInt8]) -> [UInt8]? {
        if original.count >= 10 && load(8, 2, original) == 2 { return repairingProgressiveChecksums(original) }
        var bytes = original
        guard bytes.count >= 51 else { return nil }
        let nameLength = Int(bytes[50])
        let preambleEnd = 51 + nameLength
        guard bytes.count >= preambleEnd + 4 else { return nil }
        store(crc32(bytes[0..<preambleEnd]), at: preambleEnd, in: &bytes)

        let (h, w) = (Int(load(26, 4, bytes)), Int(load(30, 4, bytes)))
        let (th, tw) = (Int(load(34, 4, bytes)), Int(load(38, 4, bytes)))
        guard th >= 1, tw >= 1, h >= th, w >= tw else { return bytes }
        let tileCount = ((h + th - 1) / th) * ((w + tw - 1) / tw)
        guard tileCount <= containerLimits.maxTiles else { return bytes }
        let tableStart = preambleEnd + 4
        let headerEnd = tableStart + 16 * tileCount + 4
        guard bytes.count >= headerEnd else { return bytes }
        var offset = headerEnd
        for tile in 0..<tileCount {
            let entry = tableStart + 16 * tile
            let length = Int(load(entry + 8, 4, bytes))
            store(UInt64(offset), at: entry, in: &bytes)
            if length <= bytes.count - offset {
                store(crc32(bytes[offset..<(offset + length)]), at: entry + 12, in: &bytes)
            }
            offset += length
        }
        store(crc32(bytes[0..<(headerEnd - 4)]), at: headerEnd - 4, in: &bytes)
        return bytes
    }

    private static func repairingProgressiveChecksums(_ original: [UInt8]) -> [UInt8]? {
        var bytes = original
        guard bytes.count >= 49 else { return nil }
        let preambleEnd = 49 + Int(bytes[48])
        guard bytes.count >= preambleEnd + 4 else { return nil }
        store(crc32(bytes[0..<preambleEnd]), at: preambleEnd, in: &bytes)

        let stageCount = Int(bytes[23])
        let (h, w) = (Int(load(24, 4, bytes)), Int(load(28, 4, bytes)))
        let (th, tw) = (Int(load(32, 4, bytes)), Int(load(36, 4, bytes)))
        guard stageCount >= 1, th >= 1, tw >= 1, h >= th, w >= tw else { return bytes }
        let tileCount = ((h + th - 1) / th) * ((w + tw - 1) / tw)
        guard tileCount <= containerLimits.maxTiles else { return bytes }
        let sectionSize = 7 + 8 * tileCount
        let headerEnd = preambleEnd + 4 + stageCount * sectionSize
        var offset = 0  // from the start of the payload: the streams are contiguous
        for stage in 0..<stageCount {
            let section = preambleEnd + 4 + stage * sectionSize
            guard bytes.count >= section + sectionSize else { break }
            for tile in 0..<tileCount {
                let entry = section + 3 + 8 * tile
                let length = Int(load(entry, 4, bytes))
                if headerEnd + offset <= bytes.count && length <= bytes.count - headerEnd - offset {
                    store(crc32(bytes[(headerEnd + offset)..<(headerEnd + offset + length)]), at: entry + 4, in: &bytes)
                }
                offset += length
            }
            store(crc32(bytes[section..<(section + sectionSize - 4)]), at: section + sectionSize - 4, in: &bytes)
        }
        return bytes
    }

    private static func load(_ at: Int, _ count: Int, _ bytes: [UInt8]) -> UInt64 {
        (0..<count).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[at + $1]) }
    }

    private static func store<T: FixedWidthInteger>(_ value: T, at: Int, in bytes: inout [UInt8]) {
        for i in 0..<(T.bitWidth / 8) { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    // MARK: PNG

    /// Decodes `data` as a PNG with the default limits (what `vqcodec encode` accepts).
    @discardableResult
    public static func png(_ data: UnsafeRawBufferPointer) -> Bool {
        (try? PNG.decode([UInt8](data), name: "fuzz.png")) != nil
    }

    // MARK: Model files

    /// Parses `data` as a safetensors file, then loads from it what ``CodecModel`` loading does:
    /// the VQ-VAE, the integer prior and the float prior, each on its own so that a failure in
    /// one does not hide the others, then the whole codec model. Returns true when the whole model loads.
    /// A model that loads then encodes and decodes a small image, so that weights the loader
    /// accepted run through the integer prior's arithmetic and the transforms.
    @discardableResult
    public static func safetensors(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let file = try? SafeTensorsFile(bytes: [UInt8](data)) else { return false }
        _ = try? VQVAE(file: file)
        _ = try? IntegerPrior(file: file)
        _ = try? PixelCNNPrior(file: file)
        guard let model = try? CodecModel(file: file, source: "fuzz.safetensors") else { return false }
        var encodeOptions = VQCodec.EncodeOptions()
        encodeOptions.threads = 1
        encodeOptions.tileSize = 2
        var decodeOptions = VQCodec.DecodeOptions()
        decodeOptions.threads = 1
        guard let encoded = try? VQCodec.encode(probeImage, model: model, options: encodeOptions) else { return true }
        _ = try? VQCodec.decode(encoded.bytes, model: model, options: decodeOptions)
        return true
    }

    /// A 24 x 20 RGB gradient: a few latent positions at any stride, in several tiles.
    static let probeImage: Image = {
        var pixels: [UInt8] = []
        for y in 0..<20 { for x in 0..<24 { pixels += [UInt8(x * 10), UInt8(y * 12), UInt8((x + y) * 5)] } }
        return Image(width: 24, height: 20, colorType: .rgb, pixels: pixels)
    }()

    // MARK: Fixtures

    /// The repository's `Fixtures` folder: `VQC_FIXTURES` when set, otherwise found from this
    /// source file's path (the harness runs from a build of the repository).
    public static let fixturesDirectory: String = {
        if let path = ProcessInfo.processInfo.environment["VQC_FIXTURES"] { return path }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }()

    /// `Fixtures/models/tiny.safetensors`, the model of `Fixtures/golden/tiny-photo.vqc`.
    public static let tinyModel: CodecModel = {
        let path = fixturesDirectory + "/models/tiny.safetensors"
        do { return try CodecModel(path: path) } catch {
            fatalError("the fuzz harness needs the tiny fixture model: \(error)")
        }
    }()
}
