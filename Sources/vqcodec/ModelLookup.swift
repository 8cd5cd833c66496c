import Container
import Foundation
import VQCodec

/// Finds the model a command should use.
enum ModelLookup {
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

    /// The model that encoded `header`, given explicitly or found by name and checksum: first
    /// among the shipped models (levels and retired ones), then in the search folders.
    static func model(for header: VQCHeader, given path: String?, file: String) throws -> CodecModel {
        if let path { return try CodecModel(path: path) }
        if let catalogue = try? ShippedModels.levels(), let shipped = catalogue.path(ofModelNamed: header.modelName),
           let model = try? CodecModel(path: shipped), model.checksum == header.modelChecksum {
            return model
        }
        for folder in searchFolders(near: file) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for entry in entries.sorted() where entry.hasSuffix(".safetensors") {
                let candidate = folder + "/" + entry
                guard let model = try? CodecModel(path: candidate) else { continue }
                if model.name == header.modelName && model.checksum == header.modelChecksum { return model }
            }
        }
        throw ContainerError.unknownModel(name: header.modelName, checksum: header.modelChecksum)
    }
}
