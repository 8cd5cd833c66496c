import ArgumentParser
import FileIO
import Foundation
import Synchronization

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
