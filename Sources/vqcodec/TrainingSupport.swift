import ArgumentParser
import FileIO
import Foundation
import Synchronization
import Transforms

/// What both `train` subcommands share: interrupt handling, messages, and output checks.

/// Interrupt requests seen by the SIGINT/SIGTERM handler. Lock-free, so the handler only stores
/// to it; the training loop checks it between steps.
private let interruptRequests = Atomic<Int>(0)

/// Replaces the default interrupt handling (delete temporaries, exit) for a training run:
/// the first SIGINT/SIGTERM asks the loop to checkpoint and stop; a second stops at once,
/// removing temporaries of writes in progress (the last complete checkpoint stays).
func installTrainingInterruptHandlers() {
    signal(SIGINT, requestInterrupt)
    signal(SIGTERM, requestInterrupt)
}

/// Whether the user asked the run to stop.
var trainingInterrupted: Bool { interruptRequests.load(ordering: .relaxed) > 0 }

private func requestInterrupt(_ signalNumber: Int32) {
    if interruptRequests.add(1, ordering: .relaxed).newValue > 1 {
        AtomicFile.removeTemporaries()
        _exit(128 + signalNumber)
    }
}

/// Messages of one `train` subcommand, prefixed with its name.
struct TrainingMessages {
    let command: String

    /// A line on standard output, flushed at once so it keeps its place among the progress lines.
    func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    func usage(_ message: String) -> ExitCode {
        printError("vqcodec: \(command): \(message)\n")
        return ExitCode(64)
    }

    func failure(_ error: Any, _ status: Int32) -> ExitCode {
        printError("vqcodec: \(command): \(error)\n")
        return ExitCode(status)
    }

    /// The output must be a file path outside the data folder, in a folder that exists.
    func checkOutput(_ output: String, data: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isFolder), isFolder.boolValue {
            throw usage("--out \(output) is a folder; give the path of the model file to write")
        }
        let outFolder = URL(fileURLWithPath: output).deletingLastPathComponent().standardizedFileURL.resolvingSymlinksInPath().path
        let dataFolder = URL(fileURLWithPath: data).standardizedFileURL.resolvingSymlinksInPath().path
        if outFolder == dataFolder || outFolder.hasPrefix(dataFolder + "/") {
            throw usage("--out \(output) lies inside the data folder \(data); write models elsewhere so the training data stays untouched")
        }
        guard FileManager.default.fileExists(atPath: outFolder, isDirectory: &isFolder), isFolder.boolValue else {
            throw usage("the folder of --out (\(outFolder)) does not exist; create it first")
        }
    }
}

/// The options `train vqvae` and `train prior` share, with one meaning, one help text and one way
/// of handling paths.
struct TrainingRunOptions: ParsableArguments {
    @Option(help: "Folder of PNG training images (not searched recursively).")
    var data: String
    @Option(help: "Training steps in total.")
    var steps: Int?
    @Option(help: "Crops per batch.")
    var batch: Int?
    @Option(help: "Peak learning rate (warm-up, then half a cosine down to a tenth).")
    var lr: Float?
    @Option(help: "Warm-up steps (default: a tenth of --steps, at most 500).")
    var warmup: Int?
    @Option(help: "Seed of the weights and of every random draw of the run (crops, codebook restarts).")
    var seed: UInt64?
    @Option(help: "Name of the output model, stored in the file and in every .vqc header made with it (printable ASCII, at most 64 characters). Give a new one when continuing a shipped model: a shipped model is never changed in place.")
    var name: String?
    @Option(help: "Steps between checkpoints (default: 200 for train vqvae, 500 for train prior).")
    var checkpointEvery: Int?
    @Option(help: "Steps between progress lines.")
    var logEvery = 10
    @Flag(help: "Continue the run saved in the output's checkpoint folder (its settings apply).")
    var resume = false

    /// `--data` as every run records it.
    var dataFolder: String { standardisedPath(data) }

    func validate() throws {
        if let checkpointEvery, checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1") }
        guard logEvery >= 1 else { throw ValidationError("--log-every must be at least 1") }
        if let name, !VQVAE.isValidName(name) { throw ValidationError("--name must be 1 to 64 printable ASCII characters") }
    }

    /// The shared options beside the values a resumed run saved, for ``checkResumed(_:saved:messages:)``.
    func resumeChecks(steps savedSteps: Int, batch savedBatch: Int, learningRate: Float, warmupSteps: Int,
                      seed savedSeed: UInt64) -> [(option: String, given: String?, saved: String)] {
        [("--steps", steps.map(String.init), String(savedSteps)), ("--batch", batch.map(String.init), String(savedBatch)),
         ("--lr", lr.map { "\($0)" }, "\(learningRate)"), ("--warmup", warmup.map(String.init), String(warmupSteps)),
         ("--seed", seed.map(String.init), String(savedSeed))]
    }

    /// With --resume the checkpoint's settings apply: an option given with another value, or other
    /// data, is a usage error naming both.
    func checkResumed(_ checks: [(option: String, given: String?, saved: String)], savedData: String,
                      messages: TrainingMessages) throws {
        for (option, given, saved) in checks {
            if let given, given != saved {
                throw messages.usage("\(option) \(given) differs from the checkpoint's \(saved); a resumed run keeps its settings")
            }
        }
        if dataFolder != standardisedPath(savedData) {
            throw messages.usage("--data \(data) differs from the checkpoint's \(savedData); a resumed run keeps its data")
        }
    }
}

/// A path as training runs record it (absolute, `.` and `..` resolved), so that the same file
/// named two ways compares equal on --resume.
func standardisedPath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
