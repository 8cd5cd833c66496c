import Container
import Foundation
import VQCodec

/// Finds the model a command should use.
enum ModelLookup {
    /// The file a `--model` argument names: the argument itself when such a file exists, else the
    /// shipped model of that name (a level's, a progressive or a retired model: `vqcodec models`
    /// lists them), else the argument unchanged (whose loading then says that it is missing).
    static func path(ofModelArgument argument: String) -> String {
        if FileManager.default.fileExists(atPath: argument) { return argument }
        if !argument.contains("/"), let catalogue = try? ShippedModels.levels(),
           let shipped = catalogue.path(ofModelNamed: argument) {
            return shipped
        }
        return argument
    }

    /// Folders searched for a `.vqc` file's model when `--model` is not given: each folder of
    /// `VQCODEC_MODEL_PATH` (colon-separated), then the folder holding the `.vqc` file.
    static func searchFolders(near file: String) -> [String] {
        var folders: [String] = []
        if let path = ProcessInfo.processInfo.environment["VQCODEC_MODEL_PATH"] {
            folders += path.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        let folder = (file as NSString).deletingLastPathComponent
        folders.append(folder.isEmpty ? "." : folder)
        return folders
    }

    /// The model that encoded a file whose header names `name` and `checksum`, given explicitly or
    /// found by name and checksum: first among the shipped models (levels and retired ones), then in
    /// the search folders. Either kind: a one-stage model (version-1 files) or a progressive one
    /// (version 2).
    static func model(name: String, checksum: UInt64, given path: String?, file: String) throws -> AnyCodecModel {
        if let path { return try AnyCodecModel.load(path: path) }
        if let catalogue = try? ShippedModels.levels(), let shipped = catalogue.path(ofModelNamed: name),
           let model = try? AnyCodecModel.load(path: shipped), model.checksum == checksum {
            return model
        }
        for folder in searchFolders(near: file) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for entry in entries.sorted() where entry.hasSuffix(".safetensors") {
                let candidate = folder + "/" + entry
                guard let model = try? AnyCodecModel.load(path: candidate) else { continue }
                if model.name == name && model.checksum == checksum { return model }
            }
        }
        throw ContainerError.unknownModel(name: name, checksum: checksum)
    }

    /// The one-stage model that encoded `header` (a version-1 file), as ``model(name:checksum:given:file:)``.
    static func model(for header: VQCHeader, given path: String?, file: String) throws -> CodecModel {
        if let path { return try CodecModel(path: path) }
        switch try model(name: header.modelName, checksum: header.modelChecksum, given: nil, file: file) {
        case .oneStage(let model): return model
        case .progressive:
            throw ContainerError.unknownModel(name: header.modelName, checksum: header.modelChecksum)
        }
    }
}
