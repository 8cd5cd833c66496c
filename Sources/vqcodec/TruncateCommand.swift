import ArgumentParser
import Container
import FileIO
import Foundation
import VQCodec

struct TruncateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "truncate",
        abstract: "Cut a progressive .vqc file to a lower quality level, without the model.",
        discussion: """
            A .vqc file of format version 2 (written by a progressive model) holds quality levels \
            1 to S as leading stages. truncate keeps its first K stages (-q K), or the most leading \
            stages whose file is at most X bits per pixel (--target-bpp X; an error when not even \
            stage 1 fits). The result is byte for byte the file that encode -q K writes with the \
            same model and options, and decodes the same. It needs no model and checks the header \
            and the CRC-32 of the streams it keeps (later stages may be missing, as in a file cut \
            short in transfer); it prints the new size and bits per pixel. The \
            output is written atomically and never over the input. Files of format version 1 have \
            one quality level and are refused.
            """)

    @Argument(help: "The progressive .vqc file to cut.")
    var input: String

    @Argument(help: "The .vqc file to write.")
    var output: String

    @Option(name: [.customShort("q"), .long], help: "Stages to keep: the quality level of the output.")
    var quality: Int?

    @Option(name: .long, help: "Largest bits per pixel allowed: keep the most stages whose file fits.")
    var targetBpp: Double?

    @OptionGroup var limits: CodingLimitOptions

    func validate() throws {
        guard (quality == nil) != (targetBpp == nil) else { throw ValidationError("give one of -q and --target-bpp") }
        if let quality, quality < 1 { throw ValidationError("-q must be at least 1") }
        if let targetBpp, !(targetBpp > 0 && targetBpp.isFinite) {
            throw ValidationError("--target-bpp must be a positive number of bits per pixel")
        }
    }

    func run() throws {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(input, maxBytes: Int(UInt32.max)) } catch { throw fail(error) }
        let version: UInt16
        do { version = try VQCFormat.version(of: bytes) } catch { throw fail(error, subject: input) }
        guard version == ProgressiveVQCHeader.currentVersion else {
            throw fail(CommandError.oneQualityLevel(needs: "truncate"), subject: input)
        }
        let header: ProgressiveVQCHeader
        do { header = try ProgressiveVQCHeader.read(from: bytes, limits: limits.containerLimits) } catch { throw fail(error, subject: input) }
        let pixels = Double(header.width) * Double(header.height)
        let stages: Int
        if let targetBpp {
            guard let fitting = VQCodec.stages(fitting: targetBpp, header: header) else {
                throw fail(CommandError.noStageFits(bitsPerPixel: targetBpp,
                                                    firstStage: 8 * Double(header.fileByteCount(stages: 1)) / pixels),
                           subject: input)
            }
            stages = fitting
        } else {
            stages = quality!
            guard stages <= header.stageCount else {
                throw fail(CommandError.fileStagesOutOfRange(requested: stages, available: header.stageCount), subject: input)
            }
        }
        let cut: ProgressiveVQCFile
        do {
            // Only the stages kept must be intact: a file cut short in a later stage can still be cut.
            cut = try ProgressiveVQCFile(bytes: bytes, stages: stages, limits: limits.containerLimits)
            // What is kept is checked before it is written: a damaged stream is not passed on.
            if let first = cut.verifyAllStreams().min(by: { $0.key < $1.key }) { throw first.value }
        } catch { throw fail(error, subject: input) }
        do { try AtomicFile.write(cut.bytes, to: output, refusingToOverwrite: [input]) } catch { throw fail(error) }
        print("\(output): \(stages) of \(header.stageCount) stages, \(cut.bytes.count) bytes, "
              + "\(format(cut.header.bitsPerPixel, 4)) bpp (from \(bytes.count) bytes, \(format(8 * Double(bytes.count) / pixels, 4)) bpp)")
    }
}
