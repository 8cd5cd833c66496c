import Engine

/// Why a VQ-VAE could not be loaded from a model file.
public enum TransformsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A metadata entry the VQ-VAE needs is absent.
    case missingMetadata(key: String)
    /// `vqvae.config` is not the JSON of a usable ``VQVAEConfiguration``; `reason` says why.
    case invalidConfiguration(key: String, found: String, reason: String)
    /// A tensor is missing, has the wrong shape or dtype, or a `vqvae` tensor is unexpected.
    case weights(SafeTensorsError)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "the model file has no metadata \"\(key)\"; it was not written by vqcodec's VQ-VAE training, or is damaged"
        case .invalidConfiguration(let key, let found, let reason):
            let shown = found.count > 200 ? String(found.prefix(200)) + "…" : found
            return "metadata \"\(key)\" is not a usable VQ-VAE configuration (\(reason)): \(shown)"
        case .weights(let error):
            return "VQ-VAE weights: \(error.description)"
        }
    }
}
