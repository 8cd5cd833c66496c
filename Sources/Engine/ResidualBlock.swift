import SeededRandom
/// A residual block `y = x + conv2(relu(conv1(x)))` on `[N, C, H, W]`: `conv1` is 3×3
/// (C → hidden, padding 1), `conv2` is 1×1 (hidden → C). Shapes are preserved.
/// Parameters: `<name>.conv1.weight`, `<name>.conv1.bias`, `<name>.conv2.weight`, `<name>.conv2.bias`.
public final class ResidualBlock: Layer {
    public let conv1: Conv2d
    public let conv2: Conv2d
    private let activation = ReLU()

    @_specialize(exported: true, where G == SplitMix64)
    public init<G: RandomNumberGenerator>(name: String, channels: Int, hiddenChannels: Int, using generator: inout G) {
        conv1 = Conv2d(name: name + ".conv1", inputChannels: channels, outputChannels: hiddenChannels,
                       kernelSize: 3, padding: 1, using: &generator)
        conv2 = Conv2d(name: name + ".conv2", inputChannels: hiddenChannels, outputChannels: channels,
                       kernelSize: 1, using: &generator)
    }

    public var parameters: [Parameter] { conv1.parameters + conv2.parameters }

    public func forward(_ input: Tensor) -> Tensor {
        input + conv2.forward(activation.forward(conv1.forward(input)))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        gradOutput + conv1.backward(activation.backward(conv2.backward(gradOutput)))
    }
}
