import ArgumentParser
import Foundation
import VQCodec

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the shipped quality levels and what each reached on Kodak (and any retired models kept for decoding).",
        discussion: """
            Kodak figures are means over its 24 images with real file sizes, measured with \
            `vqcodec rd` (Tools/results/kodak/). `vqcodec encode -q N` picks a level; without -q the \
            level marked default is used. A progressive model, listed after the levels, codes at \
            each of its qualities: `vqcodec encode --model NAME -q K`.
            """)

    @Flag(name: .long, help: "Also load each model and print its checksum, configuration and file size.")
    var verbose = false

    func run() throws {
        let catalogue = try shippedLevels()
        // The model column fits the longest name (names are up to 64 characters), never cut.
        let nameWidth = max(21, catalogue.modelNames.map(\.count).max() ?? 0)
        func column(_ name: String) -> String { name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) }
        print("quality  \(column("model"))  Kodak bpp  PSNR dB     MSE  about")
        for level in catalogue.levels {
            let figures = level.kodak.map { "\(pad(format($0.bpp, 4), 9))  \(pad(format($0.psnr, 2), 7))  \(pad(format($0.mse, 1), 6))" }
                ?? "\(pad("-", 9))  \(pad("-", 7))  \(pad("-", 6))"
            let mark = level.quality == catalogue.defaultQuality ? "*" : " "
            print("\(pad("\(level.quality)\(mark)", 7))  \(column(level.model))  "
                  + "\(figures)  \(level.summary)")
            if verbose {
                let path = catalogue.path(of: level)
                let model = try loadModel(path)
                let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                let c = model.configuration
                print("         checksum \(String(model.checksum, radix: 16)), stride \(c.stride), width \(c.width), "
                      + "\(c.groups) × \(c.codebookSize) codes, \(format(Double(bytes) / 1e6, 1)) MB")
            }
        }
        print("* default; models in \(catalogue.folder)")
        for model in catalogue.progressive {
            print("\nprogressive model \(model.model): \(model.summary)")
            print("  vqcodec encode --model \(model.model) -q K; one file cut to any lower K with vqcodec truncate")
            print("quality  \(column("model"))  Kodak bpp  PSNR dB     MSE")
            for (index, figures) in (model.kodak ?? []).enumerated() {
                print("\(pad("\(index + 1)", 7))  \(column(model.model))  \(pad(format(figures.bpp, 4), 9))  "
                      + "\(pad(format(figures.psnr, 2), 7))  \(pad(format(figures.mse, 1), 6))")
            }
        }
        if !catalogue.retired.isEmpty {
            print("\nretired (still shipped so that files made with them decode; not offered by -q):")
            for old in catalogue.retired {
                print("         \(column(old.model))  \(old.reason)")
            }
        }
    }
}
