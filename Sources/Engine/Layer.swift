/// A differentiable building block with an explicit backward pass.
///
/// Contract:
/// - `forward(_:)` computes the output and caches what `backward(_:)` needs. Each forward
///   overwrites the cache, so call `backward` for the most recent forward only.
/// - `backward(_:)` takes dLoss/dOutput (shape of the last output) and returns dLoss/dInput
///   (shape of the last input). It ADDS each parameter's gradient into `Parameter.gradient`;
///   zero the gradients (`Parameter.zeroGradient()`) between optimiser steps.
/// - `parameters` lists every trainable tensor once, with stable hierarchical names
///   (`"analysis.0.weight"`, the keys PyTorch's `state_dict` would use for the same module tree).
public protocol Layer: AnyObject {
    func forward(_ input: Tensor) -> Tensor
    func backward(_ gradOutput: Tensor) -> Tensor
    var parameters: [Parameter] { get }
}

/// Layers applied one after another; the output of each is the input of the next.
public final class Sequential: Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) {
        self.layers = layers
    }

    public func forward(_ input: Tensor) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x) }
        return x
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        var g = gradOutput
        for layer in layers.reversed() { g = layer.backward(g) }
        return g
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
}

extension Tensor {
    /// Values drawn uniformly from `-bound...bound` (PyTorch's default for convolution weights and
    /// biases uses `bound = 1 / sqrt(fanIn)`).
    package static func uniform<G: RandomNumberGenerator>(
        shape: [Int], bound: Float, using generator: inout G
    ) -> Tensor {
        let count = shape.reduce(1, *)
        var data = [Float](repeating: 0, count: count)
        for i in 0..<count { data[i] = Float.random(in: -bound...bound, using: &generator) }
        return Tensor(shape: shape, data: data)
    }
}

/// Whether `backward` passes compute parameter gradients. An encoder that only needs the gradient
/// with respect to a layer's input (a search over codes) turns them off for its passes, which
/// skips the weight-gradient products; gradients already accumulated are left untouched.
/// Read once at the start of each `backward`, on the calling task.
public enum ParameterGradients {
    @TaskLocal public static var enabled = true
}

/// Whether `forward` passes keep what `backward` needs (their inputs, GDN's normalisers). The
/// codec's blockwise transforms never run backward and turn it off: each layer's input can then
/// be freed as soon as the next layer has it, and GDN works in a small per-core buffer instead of
/// writing a whole-tensor normaliser (less memory, fewer fresh pages). The outputs are the same
/// bits either way. Read once at the start of each `forward`, on the calling task.
public enum ForwardCaches {
    @TaskLocal public static var kept = true
}
