import Foundation

/// The models that ship with vqcodec: one per quality level, plus any retired models that earlier
/// releases offered as levels, kept so that files made with them still decode (`Models/README.md`).
///
/// The folder `Models/shipped` is a SwiftPM resource of this module: `swift build` copies it into a
/// folder named ``resourceFolderName`` next to the built `vqcodec` executable (and next to the test
/// runner), where ``folder`` finds it. Installing vqcodec means copying the executable together
/// with that folder; `VQCODEC_SHIPPED_MODELS` names another folder instead. The catalogue
/// (`levels.json`, in the same folder) lists the levels from lowest to highest quality with the
/// figures each reached on Kodak, as `vqcodec rd` measured them, and the retired models.
public enum ShippedModels {
    /// The folder SwiftPM copies the resources into (Linux; `.bundle` on Apple platforms).
    public static let resourceFolderName = "vqcodec_ShippedModels.resources"
    static let appleBundleName = "vqcodec_ShippedModels.bundle"
    /// Environment variable naming a folder that holds `levels.json` and the model files.
    public static let environmentVariable = "VQCODEC_SHIPPED_MODELS"
    static let catalogueName = "levels.json"
    /// The folder inside the resources that holds the catalogue and the model files (`Models/shipped`).
    static let subfolderName = "shipped"

    /// The folder holding the shipped models, or nil when it cannot be found.
    public static var folder: String? {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment[environmentVariable], !override.isEmpty {
            return override
        }
        var places: [URL] = []
        if let executable = Bundle.main.executableURL {
            places.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        places.append(Bundle.main.bundleURL)
        places.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for place in places {
            for name in [resourceFolderName, appleBundleName, appleBundleName + "/Contents/Resources"] {
                let candidate = place.appendingPathComponent(name).appendingPathComponent(subfolderName).path
                if fileManager.fileExists(atPath: candidate + "/" + catalogueName) { return candidate }
            }
        }
        return nil
    }

    /// Why the shipped models cannot be used, for messages: where they were looked for.
    public static var notFoundExplanation: String {
        "the shipped models were not found: they live in a folder named \(resourceFolderName) next to the vqcodec "
            + "executable (swift build puts it there; copy it along when installing), or in the folder named by "
            + "$\(environmentVariable)"
    }

    /// The quality levels, lowest quality (lowest rate) first. Throws when the catalogue cannot be
    /// found or read.
    public static func levels() throws(ShippedModelsError) -> Catalogue {
        guard let folder else { throw .notFound(notFoundExplanation) }
        let path = folder + "/" + catalogueName
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, reason: "cannot read it") }
        let catalogue: Catalogue
        do { catalogue = try JSONDecoder().decode(Catalogue.self, from: data) } catch {
            throw .unreadable(path: path, reason: String(describing: error))
        }
        catalogue.folder = folder
        if let problem = catalogue.problem { throw .unreadable(path: path, reason: problem) }
        return catalogue
    }

    /// The catalogue of quality levels (`levels.json`).
    public final class Catalogue: Decodable, @unchecked Sendable {
        /// The quality `vqcodec encode` uses when none is asked for.
        public let defaultQuality: Int
        /// Lowest quality first; `levels[i].quality == i + 1`.
        public let levels: [Level]
        /// Models that are no longer levels but still ship, so that `.vqc` files made with them
        /// decode (a `.vqc` file names its model; a level's model is never replaced in place).
        public let retired: [Retired]
        /// Progressive models that ship beside the levels: each codes at several qualities (its
        /// stages), chosen with `--model NAME -q K`.
        public let progressive: [Progressive]
        /// Where the files are.
        public fileprivate(set) var folder = ""

        enum CodingKeys: String, CodingKey { case defaultQuality = "default", levels, retired, progressive }

        public required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            defaultQuality = try container.decode(Int.self, forKey: .defaultQuality)
            levels = try container.decode([Level].self, forKey: .levels)
            retired = try container.decodeIfPresent([Retired].self, forKey: .retired) ?? []
            progressive = try container.decodeIfPresent([Progressive].self, forKey: .progressive) ?? []
        }

        /// The level of quality `q` (1-based), or nil.
        public func level(_ quality: Int) -> Level? {
            levels.indices.contains(quality - 1) ? levels[quality - 1] : nil
        }

        /// The level whose model has this name, or nil.
        public func level(named name: String) -> Level? { levels.first { $0.model == name } }

        /// The path of a level's model file.
        public func path(of level: Level) -> String { path(ofModel: level.model) }

        /// The path of the shipped model with this name, a level's or a retired one, or nil when
        /// no shipped model has that name: where a decoder looks for a `.vqc` file's model.
        public func path(ofModelNamed name: String) -> String? {
            guard level(named: name) != nil || retired.contains(where: { $0.model == name })
                    || progressive.contains(where: { $0.model == name }) else { return nil }
            return path(ofModel: name)
        }

        /// Every shipped model's name: levels, progressive models, retired models.
        public var modelNames: [String] { levels.map(\.model) + progressive.map(\.model) + retired.map(\.model) }

        func path(ofModel name: String) -> String { folder + "/" + name + ".safetensors" }

        var problem: String? {
            if levels.isEmpty { return "it lists no levels" }
            for (index, level) in levels.enumerated() where level.quality != index + 1 {
                return "level \(index + 1) says it is quality \(level.quality); levels must be listed as 1, 2, 3, …"
            }
            if level(defaultQuality) == nil { return "the default quality \(defaultQuality) is not among the levels" }
            let names = modelNames
            if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
                return "the model \(repeated) is listed twice"
            }
            if let bad = names.first(where: { $0.isEmpty || $0.contains("/") || $0.hasPrefix(".") }) {
                return "\"\(bad)\" is not a model file name"
            }
            return nil
        }
    }

    /// One quality level: a model and what it reached on Kodak (24 images, mean).
    public struct Level: Decodable, Sendable, Equatable {
        public let quality: Int
        /// The model's name (also its file name without `.safetensors`, and the name `.vqc` headers carry).
        public let model: String
        /// One line on what the model is.
        public let summary: String
        public let kodak: KodakFigures?
    }

    /// A progressive model shipped beside the levels, and what each of its quality levels (the
    /// file cut after stage k) reached on Kodak.
    public struct Progressive: Decodable, Sendable, Equatable {
        /// The model's name (its file name without `.safetensors`, and the name `.vqc` headers carry).
        public let model: String
        /// One line on what the model is.
        public let summary: String
        /// Kodak figures per quality level, level 1 first (nil when not measured).
        public let kodak: [KodakFigures]?
    }

    /// A model that used to be a quality level: still shipped, only for decoding.
    public struct Retired: Decodable, Sendable, Equatable {
        /// The model's name (its file name without `.safetensors`).
        public let model: String
        /// What replaced it, and when.
        public let reason: String
    }

    /// Mean figures over the 24 Kodak images: real file bits per pixel, PSNR (dB) and MSE (8-bit scale).
    public struct KodakFigures: Decodable, Sendable, Equatable {
        public let bpp: Double
        public let psnr: Double
        public let mse: Double
    }
}

/// Why the shipped models could not be used.
public enum ShippedModelsError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let explanation): return explanation
        case .unreadable(let path, let reason): return "the shipped model catalogue \(path) is unusable: \(reason)"
        }
    }
}
