import ArgumentParser
import FileIO
import Foundation
import Images
import VQCodec

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Encode and decode every PNG of a folder; report rate, distortion and codebook use.",
        discussion: """
            For each image: real bits per pixel (file size), the integer prior's ideal bpp, the float \
            prior's cross-entropy in bpp, the uniform bound G·log2 K per position, PSNR and MSE of \
            the decoded image, codes used per group, and encode/decode times; then the means. Every \
            decode is checked to return exactly the symbols the encoder chose.
            """)

    @Option(name: .long, help: "The model file (.safetensors).")
    var model: String

    @Argument(help: "A folder of PNG images (or a single PNG).")
    var folder: String

    @Option(name: .long, help: "Tile side in latent positions.")
    var tileSize = VQCodec.defaultTileSize

    @OptionGroup var effort: EffortOptions

    func run() throws {
        let codecModel = try loadOneStageModel(model, for: "eval",
                                                hint: "vqcodec rd DIR --model M evaluates each of its quality levels")
        let files = try pngFiles(in: folder)
        var options = VQCodec.EncodeOptions()
        options.tileSize = tileSize
        effort.apply(to: &options)
        let groups = codecModel.configuration.groups
        print("model \(codecModel.name) (\(codecModel.source)): stride \(codecModel.configuration.stride), "
              + "\(groups) groups × \(codecModel.configuration.codebookSize) codes")
        print("image                 size        bpp  prior-bpp  float-bpp  uniform-bpp   PSNR dB      MSE  codes used       enc s  dec s")
        var rows: [VQCodec.Evaluation] = []
        for file in files {
            let image: Image
            do { image = try PNG.read(path: file) } catch { throw fail(error) }
            let row: VQCodec.Evaluation
            do { row = try VQCodec.evaluate(image, model: codecModel, options: options) } catch { throw fail(error, subject: file) }
            rows.append(row)
            let name = (file as NSString).lastPathComponent
            print(line(name: name, size: "\(image.width)×\(image.height)", row.bitsPerPixel, row.integerPriorBitsPerPixel,
                       row.floatPriorBitsPerPixel, row.uniformBitsPerPixel, row.distortion.psnr,
                       row.distortion.meanSquaredError, row.codesUsed.map(String.init).joined(separator: "/"),
                       row.encodeSeconds, row.decodeSeconds))
        }
        let n = Double(rows.count)
        func mean(_ f: (VQCodec.Evaluation) -> Double) -> Double { rows.reduce(0) { $0 + f($1) } / n }
        let floatMean: Double? = rows.allSatisfy { $0.floatPriorBitsPerPixel != nil } ? mean { $0.floatPriorBitsPerPixel! } : nil
        print(line(name: "mean (\(rows.count))", size: "", mean(\.bitsPerPixel), mean(\.integerPriorBitsPerPixel), floatMean,
                   mean(\.uniformBitsPerPixel), mean(\.distortion.psnr), mean(\.distortion.meanSquaredError),
                   (0..<groups).map { g in format(mean { Double($0.codesUsed[g]) }, 0) }.joined(separator: "/"),
                   mean(\.encodeSeconds), mean(\.decodeSeconds)))
        if let floatMean {
            let cost = (mean(\.integerPriorBitsPerPixel) / floatMean - 1) * 100
            print("integer prior costs \(format(cost, 3)) % over the float prior's cross-entropy")
        }
    }

    func line(name: String, size: String, _ bpp: Double, _ prior: Double, _ float: Double?, _ uniform: Double,
              _ psnr: Double, _ mse: Double, _ codes: String, _ enc: Double, _ dec: Double) -> String {
        let padded = name.padding(toLength: 20, withPad: " ", startingAt: 0)
        return "\(padded)  \(size.padding(toLength: 10, withPad: " ", startingAt: 0)) \(pad(format(bpp, 4), 7))  "
            + "\(pad(format(prior, 4), 9))  \(pad(float.map { format($0, 4) } ?? "-", 9))  \(pad(format(uniform, 4), 11))  "
            + "\(pad(format(psnr, 2), 8))  \(pad(format(mse, 2), 7))  \(codes.padding(toLength: 15, withPad: " ", startingAt: 0))  "
            + "\(pad(format(enc, 2), 5))  \(pad(format(dec, 2), 5))"
    }
}

/// The PNG files of a folder in name order, or the file itself.
func pngFiles(in path: String) throws -> [String] {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        throw fail(FileIOError.notFound(path: path))
    }
    if !isFolder.boolValue { return [path] }
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    let files = entries.filter { $0.lowercased().hasSuffix(".png") }.sorted().map { path + "/" + $0 }
    if files.isEmpty {
        printError("vqcodec: \(path): the folder holds no .png files\n")
        throw ExitCode(ExitStatus.inputMissing)
    }
    return files
}
