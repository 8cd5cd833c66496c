import Foundation
import IntegerPrior
import Prior
import SafeTensors
import Transforms

/// A progressive model as the codec uses it: one transform pair whose latent is quantised by S
/// residual stages, and one integer prior per stage (stage k's prior also reads the decoded
/// symbols of stages 1…k−1). Quality level n codes the first n stages; a file written at level S
/// can be cut to any level n without re-encoding (``VQCodec/truncate(_:toStages:)``).
///
/// Loaded from one safetensors file (`Formats/model.md`, "Progressive models"): the metadata
/// `rvq.config` and `rvq.prior_int.config`, written by `Tools/train_torch` and `vqcodec freeze`.
///
/// Thread safety: as ``CodecModel``: transforms under a lock, priors on all cores at once.
public final class ProgressiveCodecModel: @unchecked Sendable {
    /// The name written into `.vqc` headers (printable ASCII, at most 64 bytes).
    public let name: String
    /// The 64-bit identity of the coding-relevant weights, written into `.vqc` headers.
    public let checksum: UInt64
    /// Where the model came from (a path, or a description for shipped models).
    public let source: String
    public let configuration: ProgressiveConfiguration
    /// The file's metadata (training recipe, metrics).
    public let metadata: [String: String]

    let transforms: ProgressiveVQVAE
    let priors: IntegerStagePriors
    /// Whether the file keeps the float stage priors the integer ones were frozen from.
    public let hasFloatPriors: Bool
    /// The file's float stage priors, read when first asked for (`rd` compares the two rates;
    /// coding never needs them, so encode and decode do not pay for reading them).
    private var floatPriorsLoaded: Result<ProgressivePrior?, any Error>?
    private var readFloatPriors: (() throws -> ProgressivePrior?)?
    private let transformLock = NSLock()

    /// The number of stages, S: quality levels 1…S.
    public var stageCount: Int { configuration.stages.count }

    /// True when `file` holds a progressive model (metadata `rvq.config`) rather than a one-stage one.
    public static func isProgressive(_ file: SafeTensorsFile) -> Bool {
        file.metadata[ProgressiveVQVAE.configurationKey] != nil
    }

    /// Loads a model file.
    public convenience init(path: String) throws {
        let file = try SafeTensorsFile(contentsOf: path)
        try self.init(file: file, source: path)
    }

    public init(file: SafeTensorsFile, source: String) throws {
        guard file.metadata[ProgressiveVQVAE.configurationKey] != nil else {
            throw CodecError.modelIncomplete(path: source, missing: "progressive model (metadata rvq.config)",
                                             hint: "is this a progressive vqcodec model? one-stage models are used without stages")
        }
        guard file.metadata[IntegerStagePriors.configurationKey] != nil else {
            throw CodecError.modelIncomplete(
                path: source, missing: "integer stage priors (metadata \(IntegerStagePriors.configurationKey))",
                hint: "derive them from the float priors with: vqcodec freeze \(source) OUT.safetensors")
        }
        transforms = try ProgressiveVQVAE(file: file)
        priors = try IntegerStagePriors(file: file)
        hasFloatPriors = file.metadata[ProgressivePrior.configurationKey] != nil
        if hasFloatPriors {
            // From the path when there is one, so that the model does not keep the whole file in memory.
            let path = source
            readFloatPriors = FileManager.default.fileExists(atPath: path)
                ? { try ProgressivePrior(file: SafeTensorsFile(contentsOf: path)) }
                : { [file] in try ProgressivePrior(file: file) }
        }
        configuration = transforms.configuration
        let stages = configuration.stages
        guard priors.count == stages.count else {
            throw CodecError.modelInconsistent(
                path: source, reason: "the model has \(stages.count) stages but \(priors.count) stage priors")
        }
        for (index, stage) in stages.enumerated() {
            let prior = priors.configuration(stage: index + 1)
            guard prior.groups == stage.groups && prior.codebookSize == stage.codebookSize else {
                throw CodecError.modelInconsistent(
                    path: source,
                    reason: "stage \(index + 1)'s prior codes \(prior.groups) groups of \(prior.codebookSize) symbols "
                        + "but the stage has \(stage.groups) groups of \(stage.codebookSize) codes")
            }
        }
        name = CodecModel.headerName(file.metadata["name"], source: source)
        checksum = ModelChecksum.compute(file)
        metadata = file.metadata
        self.source = source
    }

    /// Runs `body` with exclusive use of the transforms.
    func withTransforms<T>(_ body: (ProgressiveVQVAE) throws -> T) rethrows -> T {
        transformLock.lock(); defer { transformLock.unlock() }
        return try body(transforms)
    }

    /// The float stage priors (nil when the file has none), read on first use; under the
    /// transform lock, like every use of them (they keep per-call caches).
    func floatPriors() throws -> ProgressivePrior? {
        try withTransforms { _ in
            if floatPriorsLoaded == nil {
                floatPriorsLoaded = Result { try readFloatPriors?() }
                readFloatPriors = nil
            }
            return try floatPriorsLoaded!.get()
        }
    }
}

/// Either kind of model a file can hold: a one-stage model (one quality level) or a progressive
/// one (quality levels 1…S). ``load(path:)`` tells them apart by the file's metadata.
public enum AnyCodecModel: Sendable {
    case oneStage(CodecModel)
    case progressive(ProgressiveCodecModel)

    /// Loads a model file of either kind.
    public static func load(path: String) throws -> AnyCodecModel {
        let file = try SafeTensorsFile(contentsOf: path)
        if ProgressiveCodecModel.isProgressive(file) {
            return .progressive(try ProgressiveCodecModel(file: file, source: path))
        }
        return .oneStage(try CodecModel(file: file, source: path))
    }

    /// The name written into `.vqc` headers.
    public var name: String {
        switch self {
        case .oneStage(let model): return model.name
        case .progressive(let model): return model.name
        }
    }

    /// The 64-bit identity written into `.vqc` headers.
    public var checksum: UInt64 {
        switch self {
        case .oneStage(let model): return model.checksum
        case .progressive(let model): return model.checksum
        }
    }
}
