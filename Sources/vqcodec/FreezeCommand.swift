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
/// prior exactly as `train prior` does at the end of its run (`PixelCNNPrior.freeze()`).
struct FreezeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freeze",
        abstract: "Derive the integer prior from a model file's float prior, making it a codec model.",
        discussion: """
            Reads IN (a VQ-VAE with a float PixelCNN prior, e.g. from Tools/train_torch/train.py), \
            derives the integer prior the range coder uses from the float prior's weights (the same \
            deterministic procedure `vqcodec train prior` runs, Formats/prior.md), and writes OUT: every \
            tensor and metadata entry of IN, with any earlier integer prior replaced. OUT is checked to \
            load as a codec model before it is written, atomically; IN is never overwritten.
            """)

    @Argument(help: "Model file with a VQ-VAE and a float prior (safetensors).")
    var input: String

    @Argument(help: "Codec model file to write.")
    var output: String

    func run() throws {
        if AtomicFile.sameFile(input, output) { throw fail(FileIOError.outputIsInput(path: output)) }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: input) } catch { throw fail(error) }  // names the file

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

        let frozen = prior.freeze()
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
              + "\(p.channels) channels)" + (replaced ? ", replacing the file's earlier integer prior" : ""))
    }

    /// The input is not a model this command can freeze: exit status 65 with the file named.
    private func invalid(_ message: String) -> ExitCode {
        printError("vqcodec: \(input): \(message)\n")
        return ExitCode(ExitStatus.invalidInput)
    }
}
