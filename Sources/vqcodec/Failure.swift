import ArgumentParser
import Container
import Engine
import FileIO
import Images
import IntegerPrior
import Prior
import SafeTensors
import ShippedModels
import Transforms
import VQCodec

import Foundation

/// The one place where errors become sentences and exit codes (README "Exit codes").
enum ExitStatus {
    static let internalError: Int32 = 1
    static let usage: Int32 = 64
    static let invalidInput: Int32 = 65
    static let inputMissing: Int32 = 66
    static let wrongModel: Int32 = 67
    static let truncated: Int32 = 70
    static let unsupportedVersion: Int32 = 71
    static let checksumMismatch: Int32 = 72
    static let cannotWrite: Int32 = 73
    /// `decode --salvage` wrote the image, but some tiles were damaged and filled with grey.
    static let salvaged: Int32 = 74

    /// The exit code for an error, by what the user can do about it.
    static func code(for error: any Error) -> Int32 {
        switch error {
        case let error as ContainerError:
            switch error {
            case .truncatedHeader, .truncatedTile, .truncatedStream: return truncated
            case .unsupportedVersion: return unsupportedVersion
            case .headerCRCMismatch, .tileCRCMismatch, .stageTableCRCMismatch, .streamCRCMismatch: return checksumMismatch
            case .unknownModel, .wrongModel: return wrongModel
            default: return invalidInput
            }
        case let error as FileIOError: return code(for: error)
        case let error as CommandError:
            switch error {
            case .fileStagesOutOfRange, .noStageFits: return usage
            case .oneQualityLevel, .oneStageOnly: return invalidInput
            }
        case let error as TransformsError:
            if case .weights(let inner) = error { return code(for: inner) }
            return invalidInput
        case let error as CodecError:
            switch error {
            case .tileUndecodable, .streamUndecodable: return checksumMismatch
            case .noSuchQuality, .stagesOutOfRange, .notProgressive: return usage
            default: break
            }
            return invalidInput
        case let error as PriorError:
            if case .tensor(let inner) = error { return code(for: inner) }
            return invalidInput
        case let error as ShippedModelsError:
            if case .notFound = error { return inputMissing }
            return invalidInput
        case let error as ImageError:
            if case .file(let inner) = error { return code(for: inner) }
            if case .encodingFailed = error { return internalError }
            return invalidInput
        case let error as SafeTensorsError:
            if case .io(let inner) = error { return code(for: inner) }
            if case .file(_, let inner) = error { return code(for: inner) }
            return invalidInput
        default:
            return internalError
        }
    }

    static func code(for error: FileIOError) -> Int32 {
        switch error {
        case .notFound, .readFailed: return inputMissing
        case .tooLarge: return invalidInput
        case .cannotCreate, .writeFailed, .outputIsInput, .notRegularFile: return cannotWrite
        }
    }
}

/// What the commands themselves refuse, beyond the modules' errors.
enum CommandError: Error, CustomStringConvertible {
    /// `what` (an option or a command) needs a progressive (version-2) file; the file is version 1.
    case oneQualityLevel(needs: String)
    /// `-q` asked for more stages than the version-2 file holds.
    case fileStagesOutOfRange(requested: Int, available: Int)
    /// `truncate --target-bpp`: even the file's first stage is larger than the budget.
    case noStageFits(bitsPerPixel: Double, firstStage: Double)
    /// `command` reads only `reads` (one-stage models, version-1 files); `found` says what it got.
    case oneStageOnly(command: String, reads: String, found: String)

    var description: String {
        switch self {
        case .oneQualityLevel(let what):
            return "\(what) needs a .vqc file of format version 2 (written by a progressive model); "
                + "this file is format version 1 and has one quality level"
        case .fileStagesOutOfRange(let requested, let available):
            return "the file holds quality levels (stages) 1 to \(available), not \(requested)"
        case .noStageFits(let target, let firstStage):
            return "no quality level fits \(format(target, 3)) bpp: quality 1 alone is \(format(firstStage, 3)) bpp"
        case .oneStageOnly(let command, let reads, let found):
            return "\(command) reads \(reads) only; \(found)"
        }
    }
}

/// Prints `vqcodec: <subject>: <message>` on standard error and exits with the error's code.
/// Errors that already name their file (FileIO, Images) are printed without a subject.
func fail(_ error: any Error, subject: String? = nil) -> ExitCode {
    var line = "vqcodec: "
    let namesFile = error is FileIOError || error is ImageError || isModelFileError(error)
    if let subject, !namesFile { line += "\(subject): " }
    line += "\(error)"
    if let hint = limitHint(error) { line += "; \(hint)" }
    line += "\n"
    printError(line)
    return ExitCode(ExitStatus.code(for: error))
}

/// Writes to standard error, unbuffered.
func printError(_ text: String) {
    fflush(nil)  // what was printed on stdout so far comes first on a shared terminal
    FileHandle.standardError.write(Data(text.utf8))
}

/// Model-file errors whose message already starts with the file's path.
func isModelFileError(_ error: any Error) -> Bool {
    if let error = error as? CodecError {
        switch error {
        case .tileUndecodable, .noSuchQuality, .stagesOutOfRange, .streamUndecodable, .notProgressive: return false
        default: return true
        }
    }
    if let error = error as? SafeTensorsError, case .file = error { return true }
    return false
}

/// How to raise a limit the error ran into, when an option can.
func limitHint(_ error: any Error) -> String? {
    if let error = error as? ContainerError, case .limitExceeded(.pixelCount, _, _) = error {
        return "--max-pixels raises the limit for a file you trust"
    }
    if let error = error as? ImageError, case .tooLarge(_, let width, let height, let limits) = error,
       width <= limits.maxWidth, height <= limits.maxHeight {
        return "--max-pixels raises the limit for a file you trust"
    }
    return nil
}
