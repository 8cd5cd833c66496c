/// Problems the codec itself finds (file-format, image and model-file errors keep their own types).
public enum CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The model file lacks a part the codec needs (e.g. a VQ-VAE trained without its prior).
    case modelIncomplete(path: String, missing: String, hint: String)
    /// The model file's parts disagree (e.g. the prior's codebook size differs from the VQ-VAE's).
    case modelInconsistent(path: String, reason: String)
    /// A tile's stream ended or held an impossible value while decoding.
    case tileUndecodable(tile: Int, reason: String)
    /// A quality level outside the shipped levels 1…available.
    case noSuchQuality(Int, available: Int)
    /// A progressive model or file asked for a number of stages it does not have (1…available).
    case stagesOutOfRange(requested: Int, available: Int, model: String)
    /// One stage's stream of one tile of a progressive file ended or held an impossible value.
    case streamUndecodable(stage: Int, tile: Int, reason: String)
    /// An option that only a progressive model understands was given with a one-stage model.
    case notProgressive(model: String, option: String)

    public var description: String {
        switch self {
        case .modelIncomplete(let path, let missing, let hint):
            return "\(path): the model has no \(missing); \(hint)"
        case .modelInconsistent(let path, let reason):
            return "\(path): the model is inconsistent: \(reason)"
        case .tileUndecodable(let tile, let reason):
            return "tile \(tile) cannot be decoded (\(reason)); the file is damaged or was written by another encoder"
        case .noSuchQuality(let quality, let available):
            return "there is no quality level \(quality): the shipped levels are 1 to \(available) (vqcodec models lists them)"
        case .stagesOutOfRange(let requested, let available, let model):
            return "\(model) has quality levels (stages) 1 to \(available), not \(requested)"
        case .streamUndecodable(let stage, let tile, let reason):
            return "stage \(stage) of tile \(tile) cannot be decoded (\(reason)); the file is damaged or was written by another encoder"
        case .notProgressive(let model, let option):
            return "\(option) needs a progressive model; \(model) has one quality level"
        }
    }
}
