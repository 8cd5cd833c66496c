import ArgumentParser
import Engine
import FileIO
import Foundation
import IntegerPrior
import Prior
import SafeTensors
import Transforms
import VQCodec

/// `vqcodec freeze IN OUT`: turns a model file that holds a VQ-VAE and a float prior (trained with
/// `Tools/train_torch`, or any file `train prior` wrote) into a codec model, by deriving the integer
/// prior exactly as `train prior` does at the end of its run (`PixelCNNPrior.freeze()`). A
/// progressive model file (`rvq.config`, stage priors `rvq.prior.config`) gets its integer stage
/// priors instead (`ProgressivePrior.freeze()`, `Formats/prior.md` §6).
struct FreezeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freeze",
        abstract: "Derive the integer prior from a model file's float prior, making it a codec model.",
        discussion: """
            Reads IN (a VQ-VAE with a float PixelCNN prior, e.g. from Tools/train_torch/train.py), \
            derives the integer prior the range coder uses from the float prior's weights (the same \
            deterministic procedure `vqcodec train prior` runs, Formats/prior.md), and writes OUT: every \
            tensor and metadata entry of IN, with any earlier integer prior replaced. OUT is checked to \
            load as a codec model before it is written, atomically; IN is never overwritten. A progressive \
            model (Tools/train_torch/train.py rvq, then rvq-prior) gets one integer prior per stage \
            (prior_int.stage<k>.*, rvq.prior_int.config), checked to load before it is written.
            """)

    @Argument(help: "Model file with a VQ-VAE and a float prior (safetensors).")
    var input: String

    @Argument(help: "Codec model file to write.")
    var output: String

    @Option(name: .customLong("weight-bits"),
            help: ArgumentHelp("Bits per stored weight of the integer prior: 16 (default) or 8 (half the size, "
                               + "at a cost in rate; measure it with `vqcodec rd` before shipping such a file).",
                               valueName: "bits"))
    var weightBits: Int = 16

    func validate() throws {
        guard weightBits == 8 || weightBits == 16 else {
            throw ValidationError("--weight-bits must be 8 or 16, not \(weightBits)")
        }
    }

    func run() throws {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: input) } catch { throw fail(error) }  // names the file
        if file.metadata[ProgressivePrior.modelConfigurationKey] != nil { return try freezeProgressive(file) }

        guard file.metadata[VQVAE.configurationKey] != nil else {
            throw invalid("the model file has no VQ-VAE (metadata \"\(VQVAE.configurationKey)\"); train one with "
                          + "Tools/train_torch/train.py vqvae or vqcodec train vqvae")
        }
        let vqvae: VQVAE
        do { vqvae = try VQVAE(file: file) } catch { throw fail(error, subject: input) }
        guard file.metadata[PixelCNNPrior.configurationKey] != nil else {
            throw invalid("the model file has no float prior (metadata \"\(PixelCNNPrior.configurationKey)\") to freeze; "
                          + "train one with Tools/train_torch/train.py prior --model \(input) or vqcodec train prior")
        }
        let prior: PixelCNNPrior
        do { prior = try PixelCNNPrior(file: file) } catch { throw invalid(error.description) }
        let (v, p) = (vqvae.configuration, prior.configuration)
        guard p.groups == v.groups && p.codebookSize == v.codebookSize else {
            throw invalid("the float prior models \(p.groups) groups of \(p.codebookSize) symbols but the VQ-VAE has "
                          + "\(v.groups) groups of \(v.codebookSize) codes")
        }

        let frozen = prior.freeze(weightBits: weightBits)
        var result = file
        let replaced = file.metadata[IntegerPrior.configurationKey] != nil
        result.tensors = file.tensors.filter { !$0.key.hasPrefix(IntegerPrior.tensorPrefix) }
        result.metadata = file.metadata.filter { !$0.key.hasPrefix(IntegerPrior.tensorPrefix) }
        for (key, tensor) in frozen.storedTensors() { result.tensors[key] = tensor }
        for (key, value) in frozen.metadata { result.metadata[key] = value }

        // What we write must be a model the codec loads; check before writing.
        let model: CodecModel
        do { model = try CodecModel(file: result, source: output) } catch {
            throw fail(error, subject: output)
        }
        let bytes = result.serialized()
        do { try AtomicFile.write(bytes, to: output, refusingToOverwrite: [input]) } catch { throw fail(error) }
        print("\(output): \(bytes.count) bytes, model \"\(model.name)\", identity \(String(format: "%016llx", model.checksum)); "
              + "integer prior frozen from the float prior (\(p.groups) × \(p.codebookSize) symbols, \(p.blocks) blocks of "
              + "\(p.channels) channels\(bitsNote))" + (replaced ? ", replacing the file's earlier integer prior" : ""))
    }

    /// A progressive model: its float stage priors become integer stage priors in OUT.
    private func freezeProgressive(_ file: SafeTensorsFile) throws {
        guard file.metadata[ProgressivePrior.configurationKey] != nil else {
            throw invalid("the progressive model file has no stage priors (metadata \"\(ProgressivePrior.configurationKey)\") to "
                          + "freeze; train them with Tools/train_torch/train.py rvq-prior --model \(input)")
        }
        let prior: ProgressivePrior
        do { prior = try ProgressivePrior(file: file) } catch { throw invalid(error.description) }
        let frozen = prior.freeze(weightBits: weightBits)
        var result = file
        let replaced = file.metadata[IntegerStagePriors.configurationKey] != nil
        result.tensors = file.tensors.filter { !$0.key.hasPrefix(IntegerStagePriors.tensorPrefix) }
        result.metadata = file.metadata.filter { $0.key != IntegerStagePriors.configurationKey }
        for (key, tensor) in frozen.storedTensors() { result.tensors[key] = tensor }
        for (key, value) in frozen.metadata { result.metadata[key] = value }

        // What we write must read back; check before writing.
        let bytes = result.serialized()
        do { _ = try IntegerStagePriors(file: try SafeTensorsFile(bytes: bytes)) } catch { throw fail(error, subject: output) }
        do { try AtomicFile.write(bytes, to: output, refusingToOverwrite: [input]) } catch { throw fail(error) }
        let stages = frozen.configurations.map { "\($0.groups) × \($0.codebookSize)" }.joined(separator: ", ")
        let conditioned = frozen.configurations.filter { $0.conditionChannels > 0 }.count
        print("\(output): \(bytes.count) bytes, progressive model \"\(file.metadata["name"] ?? "")\"; integer stage priors frozen "
              + "from the float stage priors (\(frozen.count) stages of \(stages) symbols, \(conditioned) conditioned on the "
              + "earlier stages\(bitsNote))" + (replaced ? ", replacing the file's earlier integer stage priors" : ""))
    }

    /// What the summary line adds for weights other than the default I16.
    private var bitsNote: String { weightBits == 16 ? "" : ", \(weightBits)-bit weights" }

    /// The input is not a model this command can freeze: exit status 65 with the file named.
    private func invalid(_ message: String) -> ExitCode {
        printError("vqcodec: \(input): \(message)\n")
        return ExitCode(ExitStatus.invalidInput)
    }
}
