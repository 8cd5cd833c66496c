import Engine

extension VQVAE {
    /// The analysis transform's output for `images` `[N, 3, H, W]` in [0, 1]: the unquantised
    /// latent `[N, G·d, H/stride, W/stride]` whose nearest codes ``symbols(images:)`` returns.
    public func analysisLatent(images: Tensor) -> Tensor {
        checkImages(images)
        return analysis.forward(images)
    }

    /// A vector–Jacobian product through the synthesis: runs the synthesis on `latent`
    /// `[N, G·d, h, w]`, asks `outputGradient` for dL/dŝ given the reconstruction ŝ (same shape),
    /// and returns dL/dL̂ `[N, G·d, h, w]`, the gradient with respect to the latent.
    ///
    /// The parameters' gradients are left as they were: this is for encoders that search over
    /// codes, not for training.
    public func synthesisGradient(latent: Tensor, outputGradient: (_ reconstruction: Tensor) -> Tensor) -> Tensor {
        precondition(latent.shape.count == 4 && latent.shape[1] == configuration.latentChannels,
                     "latent must be [N, \(configuration.latentChannels), h, w], found \(latent.shape)")
        let reconstruction = synthesis.forward(latent)
        let gradient = ParameterGradients.$enabled.withValue(false) { synthesis.backward(outputGradient(reconstruction)) }
        return gradient
    }
}

extension ProgressiveVQVAE {
    /// The analysis transform's output for `images` `[N, 3, H, W]` in [0, 1]: the unquantised
    /// latent `[N, C, H/stride, W/stride]` that stage 1 quantises.
    public func analysisLatent(images: Tensor) -> Tensor {
        checkImages(images)
        return analysis.forward(images)
    }

    /// A vector–Jacobian product through the synthesis, as ``VQVAE/synthesisGradient(latent:outputGradient:)``.
    public func synthesisGradient(latent: Tensor, outputGradient: (_ reconstruction: Tensor) -> Tensor) -> Tensor {
        precondition(latent.shape.count == 4 && latent.shape[1] == configuration.latentChannels,
                     "latent must be [N, \(configuration.latentChannels), h, w], found \(latent.shape)")
        let reconstruction = synthesis.forward(latent)
        return ParameterGradients.$enabled.withValue(false) { synthesis.backward(outputGradient(reconstruction)) }
    }
}
