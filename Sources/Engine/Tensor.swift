/// A dense float tensor in row-major order. Images and feature maps use NCHW:
/// `shape == [batch, channels, height, width]`, `data[((n * C + c) * H + y) * W + x]`.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
}

/// A trainable tensor with a stable name (its safetensors key) and an accumulated gradient.
/// A reference type so layers and the optimiser share one copy.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public var value: Tensor
    public var gradient: Tensor

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
    }

    public func zeroGradient() {
        for i in gradient.data.indices { gradient.data[i] = 0 }
    }
}
