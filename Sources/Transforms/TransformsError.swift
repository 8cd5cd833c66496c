import Engine
import SafeTensors

/// Why a VQ-VAE could not be loaded from a model file.
public enum TransformsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A metadata entry the VQ-VAE needs is absent.
    case missingMetadata(key: String)
    /// `vqvae.config` is not the JSON of a usable ``VQVAEConfiguration``; `reason` says why.
    case invalidConfiguration(key: String, found: String, reason: String)
    /// The configuration describes a larger model than the file's tensors hold (a damaged or forged
    /// file): refused before the model is built, so it cannot make loading allocate for weights
    /// that are not there. `needed` is ``VQVAEConfiguration/minimumStoredValues``, `found` the
    /// values of the file's `analysis.`, `synthesis.` and `quantizer.codebook` tensors.
    case configurationExceedsWeights(key: String, needed: Int, found: Int)
    /// A tensor is missing, has the wrong shape or dtype, or a `vqvae` tensor is unexpected.
    case weights(SafeTensorsError)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "the model file has no metadata \"\(key)\"; it was not written by vqcodec's VQ-VAE training, or is damaged"
        case .invalidConfiguration(let key, let found, let reason):
            let shown = found.count > 200 ? String(found.prefix(200)) + "…" : found
            return "metadata \"\(key)\" is not a usable VQ-VAE configuration (\(reason)): \(shown)"
        case .configurationExceedsWeights(let key, let needed, let found):
            return "metadata \"\(key)\" describes a VQ-VAE of at least \(needed) weights, but the file holds "
                + "\(found); the model file is damaged"
        case .weights(let error):
            return "VQ-VAE weights: \(error.description)"
        }
    }
}
