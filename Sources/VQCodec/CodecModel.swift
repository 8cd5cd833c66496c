import Engine
import Foundation
import IntegerPrior
import Prior
import SafeTensors
import Transforms

/// A trained model as the codec uses it: the VQ-VAE (analysis, codebooks, synthesis) and the
/// integer PixelCNN prior, loaded from one safetensors file (`Formats/model.md`).
///
/// Thread safety: the transforms keep per-call caches, so the codec runs them under a lock (one
/// image at a time per model); the integer prior is a value and runs on all cores at once.
public final class CodecModel: @unchecked Sendable {
    /// The name written into `.vqc` headers (printable ASCII, at most 64 bytes).
    public let name: String
    /// The 64-bit identity of the coding-relevant weights, written into `.vqc` headers.
    public let checksum: UInt64
    /// Where the model came from (a path, or a description for embedded models).
    public let source: String
    public let configuration: VQVAEConfiguration
    /// The file's metadata (training recipe, metrics).
    public let metadata: [String: String]

    let vqvae: VQVAE
    let prior: IntegerPrior
    /// The file's float prior, read when first asked for (`eval` and `rd` compare the two
    /// rates; coding never needs it, so encode and decode do not pay for building it).
    private var floatPriorLoaded: Result<PixelCNNPrior?, any Error>?
    private var readFloatPrior: (() throws -> PixelCNNPrior?)?
    private let transformLock = NSLock()

    /// Loads a model file.
    public convenience init(path: String) throws {
        let file = try SafeTensorsFile(contentsOf: path)
        try self.init(file: file, source: path)
    }

    public init(file: SafeTensorsFile, source: String) throws {
        guard file.metadata["vqvae.config"] != nil else {
            throw CodecError.modelIncomplete(path: source, missing: "VQ-VAE (metadata vqvae.config)",
                                             hint: "is this a vqcodec model file? train one with: vqcodec train vqvae")
        }
        guard file.metadata["prior_int.config"] != nil else {
            throw CodecError.modelIncomplete(path: source, missing: "integer prior (metadata prior_int.config)",
                                             hint: "train one with: vqcodec train prior --model \(source) --data DIR")
        }
        vqvae = try VQVAE(file: file)
        prior = try IntegerPrior(file: file)
        if file.metadata["prior.config"] != nil {
            // From the bytes already read (the file on disk may have changed since).
            readFloatPrior = { [file] in try PixelCNNPrior(file: file) }
        }
        configuration = vqvae.configuration
        guard prior.groups == configuration.groups && prior.codebookSize == configuration.codebookSize else {
            throw CodecError.modelInconsistent(
                path: source,
                reason: "the prior codes \(prior.groups) groups of \(prior.codebookSize) symbols but the VQ-VAE "
                    + "has \(configuration.groups) groups of \(configuration.codebookSize) codes")
        }
        name = Self.headerName(file.metadata["name"], source: source)
        checksum = ModelChecksum.compute(file)
        metadata = file.metadata
        self.source = source
    }

    /// Runs `body` with exclusive use of the transforms.
    func withTransforms<T>(_ body: (VQVAE) throws -> T) rethrows -> T {
        transformLock.lock(); defer { transformLock.unlock() }
        return try body(vqvae)
    }

    /// The float prior (nil when the file has none), read on first use; under the transform
    /// lock, like every use of it (it keeps per-call caches).
    func floatPrior() throws -> PixelCNNPrior? {
        try withTransforms { _ in
            if floatPriorLoaded == nil {
                floatPriorLoaded = Result { try readFloatPrior?() }
                readFloatPrior = nil
            }
            return try floatPriorLoaded!.get()
        }
    }

    /// A header-safe name: the metadata's `name` if valid, otherwise the file name without
    /// extension, with anything outside printable ASCII replaced by `_`, cut to 64 bytes.
    static func headerName(_ declared: String?, source: String) -> String {
        let base = declared ?? String(source.split(separator: "/").last ?? "model").replacingOccurrences(of: ".safetensors", with: "")
        var name = String(base.unicodeScalars.map { (0x20...0x7E).contains($0.value) ? Character($0) : "_" })
        if name.isEmpty { name = "model" }
        return String(name.prefix(64))
    }
}
