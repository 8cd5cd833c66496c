import Engine
import FileIO
import Foundation
import SafeTensors

/// A training run's checkpoint: a folder (by convention `<model>.ckpt/`) holding
/// - `checkpoint.json`: the format, the step, the training seconds so far, the run's settings
///   (any `Codable` value the trainer chooses) and the names of the files below, by role;
/// - one safetensors file per role (`model`, `optimizer`, …), named `<role>-<step>.safetensors`.
///
/// Saving writes the new files first and `checkpoint.json` last, each atomically, then deletes
/// the files of the previous checkpoint: an interruption at any moment leaves a `checkpoint.json`
/// whose files are all present and of the same step, so a resumed run is consistent.
public struct CheckpointFolder: Sendable {
    public let path: String

    public static let manifestName = "checkpoint.json"
    public static let format = "vqcodec-checkpoint-1"

    public init(path: String) {
        self.path = path
    }

    /// The checkpoint folder of a model written to `output`: `output + ".ckpt"`.
    public init(forOutput output: String) {
        self.init(path: output + ".ckpt")
    }

    /// True when the folder holds a checkpoint manifest.
    public var exists: Bool { FileManager.default.fileExists(atPath: manifestPath) }

    var manifestPath: String { path + "/" + Self.manifestName }

    /// Saves a checkpoint of `step`. `files` maps roles (lowercase letters) to their contents.
    public func save<Run: Codable>(step: Int, elapsedSeconds: Double, run: Run,
                                   files: [String: SafeTensorsFile]) throws(CheckpointError) {
        precondition(step >= 0 && !files.isEmpty)
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw .cannotCreateFolder(path, reason: error.localizedDescription)
        }
        let previous = try? readManifest(as: Run.self)
        var names: [String: String] = [:]
        for (role, file) in files.sorted(by: { $0.key < $1.key }) {
            precondition(!role.isEmpty && role.allSatisfy { $0.isLetter && $0.isLowercase }, "role \"\(role)\" must be lowercase letters")
            let name = "\(role)-\(String(format: "%08d", step)).safetensors"
            do { try file.write(to: path + "/" + name) } catch { throw .file(error) }
            names[role] = name
        }
        let manifest = Manifest(format: Self.format, step: step, elapsedSeconds: elapsedSeconds, files: names, run: run)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes: Data
        do { bytes = try encoder.encode(manifest) } catch {
            preconditionFailure("cannot encode the checkpoint manifest: \(error)")
        }
        do { try AtomicFile.write(Array(bytes), to: manifestPath) } catch { throw .io(error) }
        for name in previous?.files.values ?? [:].values where !names.values.contains(name) {
            try? FileManager.default.removeItem(atPath: path + "/" + name)
        }
    }

    /// What ``load(as:)`` returns.
    public struct Contents<Run: Codable> {
        public var step: Int
        public var elapsedSeconds: Double
        public var run: Run
        public var files: [String: SafeTensorsFile]
    }

    /// Reads the checkpoint: its manifest and every file it names.
    public func load<Run: Codable>(as type: Run.Type) throws(CheckpointError) -> Contents<Run> {
        let manifest = try readManifest(as: type)
        var files: [String: SafeTensorsFile] = [:]
        for (role, name) in manifest.files {
            guard !name.contains("/") && !name.hasPrefix(".") else {
                throw .invalidManifest(manifestPath, reason: "file name \"\(name)\" is not a plain name")
            }
            do { files[role] = try SafeTensorsFile(contentsOf: path + "/" + name) } catch { throw .file(error) }
        }
        return Contents(step: manifest.step, elapsedSeconds: manifest.elapsedSeconds, run: manifest.run, files: files)
    }

    private struct Manifest<Run: Codable>: Codable {
        var format: String
        var step: Int
        var elapsedSeconds: Double
        var files: [String: String]
        var run: Run
    }

    private func readManifest<Run: Codable>(as type: Run.Type) throws(CheckpointError) -> Manifest<Run> {
        guard exists else { throw .missing(path) }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(manifestPath, maxBytes: 1 << 20) } catch { throw .io(error) }
        let manifest: Manifest<Run>
        do { manifest = try JSONDecoder().decode(Manifest<Run>.self, from: Data(bytes)) } catch {
            throw .invalidManifest(manifestPath, reason: "\(error)")
        }
        guard manifest.format == Self.format else {
            throw .invalidManifest(manifestPath, reason: "format \"\(manifest.format)\", expected \"\(Self.format)\"")
        }
        guard manifest.step >= 0 else { throw .invalidManifest(manifestPath, reason: "negative step \(manifest.step)") }
        return manifest
    }
}

/// Why a checkpoint could not be saved or loaded.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(String)
    case cannotCreateFolder(String, reason: String)
    case invalidManifest(String, reason: String)
    case file(SafeTensorsError)
    case io(FileIOError)

    public var description: String {
        switch self {
        case .missing(let path):
            return "\(path): no checkpoint to resume (no \(CheckpointFolder.manifestName) there)"
        case .cannotCreateFolder(let path, let reason):
            return "\(path): cannot create the checkpoint folder: \(reason)"
        case .invalidManifest(let path, let reason):
            return "\(path): not a usable checkpoint manifest: \(reason)"
        case .file(let error):
            return "checkpoint: \(error.description)"
        case .io(let error):
            return "checkpoint: \(error.description)"
        }
    }
}
