/// Channel-wise slicing, concatenation and sums of NCHW tensors, for layers with more than one
/// path (gated PixelCNN blocks, residual blocks).
extension Tensor {
    /// `self[:, channels, :, :]`.
    func channels(_ range: Range<Int>) -> Tensor {
        let (n, c, h, w) = nchw
        precondition(range.lowerBound >= 0 && range.upperBound <= c, "channel range \(range) outside 0..<\(c)")
        let plane = h * w, count = range.count * plane
        return data.withUnsafeBufferPointer { x in
            Tensor(shape: [n, range.count, h, w]) { y in
                for i in 0..<n {
                    (y.baseAddress! + i * count).update(from: x.baseAddress! + (i * c + range.lowerBound) * plane, count: count)
                }
            }
        }
    }

    /// Concatenation of NCHW tensors along the channel axis.
    static func concatenatingChannels(_ parts: [Tensor]) -> Tensor {
        let (n, _, h, w) = parts[0].nchw
        for part in parts { precondition(part.shape[0] == n && part.shape[2] == h && part.shape[3] == w, "shapes differ") }
        let total = parts.reduce(0) { $0 + $1.shape[1] }
        let plane = h * w
        return Tensor(shape: [n, total, h, w]) { y in
            var offset = 0
            for part in parts {
                let count = part.shape[1] * plane
                part.data.withUnsafeBufferPointer { x in
                    for i in 0..<n {
                        (y.baseAddress! + i * total * plane + offset).update(from: x.baseAddress! + i * count, count: count)
                    }
                }
                offset += count
            }
        }
    }

    /// Element-wise sum of two tensors of the same shape.
    static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "cannot add shapes \(lhs.shape) and \(rhs.shape)")
        return lhs.data.withUnsafeBufferPointer { a in
            rhs.data.withUnsafeBufferPointer { b in
                Tensor(shape: lhs.shape) { y in
                    for i in 0..<y.count { y[i] = a[i] + b[i] }
                }
            }
        }
    }
}

/// Selects channels of an NCHW tensor: input `[N, C, H, W]`, output `[N, range.count, H, W]`.
/// Backward puts the gradient back in place and zeros in the channels not selected. Used to take
/// the horizontal stack (the second half of the channels) out of the last gated PixelCNN block.
public final class ChannelSlice: Layer {
    public let range: Range<Int>
    private var inputShape: [Int] = []

    public init(channels range: Range<Int>) {
        self.range = range
    }

    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        inputShape = input.shape
        return input.channels(range)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        precondition(gradOutput.shape == [n, range.count, h, w], "gradient shape \(gradOutput.shape) does not match output")
        var parts: [Tensor] = []
        if range.lowerBound > 0 { parts.append(Tensor(zeros: [n, range.lowerBound, h, w])) }
        parts.append(gradOutput)
        if range.upperBound < c { parts.append(Tensor(zeros: [n, c - range.upperBound, h, w])) }
        return Tensor.concatenatingChannels(parts)
    }
}
