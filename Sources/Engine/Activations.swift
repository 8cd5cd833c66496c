/// Rectified linear unit, `max(x, 0)`, element-wise on a tensor of any shape.
/// The derivative at exactly 0 is taken as 0 (PyTorch's convention).
public final class ReLU: Layer {
    private var cachedInput: Tensor?

    public init() {}

    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        cachedInput = input
        return elementwise(input) { $0 > 0 ? $0 : 0 }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let input = cachedInput else { preconditionFailure("ReLU.backward before forward") }
        return elementwise(input, gradOutput) { x, g in x > 0 ? g : 0 }
    }
}

/// Leaky rectified linear unit, `x` for `x > 0` and `slope · x` otherwise.
public final class LeakyReLU: Layer {
    public let slope: Float
    private var cachedInput: Tensor?

    public init(slope: Float = 0.01) {
        self.slope = slope
    }

    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        cachedInput = input
        let slope = self.slope
        return elementwise(input) { $0 > 0 ? $0 : slope * $0 }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let input = cachedInput else { preconditionFailure("LeakyReLU.backward before forward") }
        let slope = self.slope
        return elementwise(input, gradOutput) { x, g in x > 0 ? g : slope * g }
    }
}

/// The gated activation unit of gated PixelCNN (van den Oord et al. 2016, eq. 2):
/// input `[N, 2C, H, W]` is split into halves `a = input[:, 0..<C]`, `b = input[:, C..<2C]`,
/// and the output `[N, C, H, W]` is `tanh(a) ⊙ sigmoid(b)`. Channel `i` of the output depends only
/// on input channels `i` and `C + i`, which keeps the PixelCNN group ordering intact.
public final class GatedActivation: Layer {
    private var cachedTanh: [Float] = []
    private var cachedSigmoid: [Float] = []
    private var inputShape: [Int] = []

    public init() {}

    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        let (n, c2, h, w) = input.nchw
        precondition(c2 % 2 == 0, "GatedActivation needs an even channel count, found \(c2)")
        inputShape = input.shape
        let half = c2 / 2 * h * w
        if cachedTanh.count != n * half {
            cachedTanh = [Float](repeating: 0, count: n * half)
            cachedSigmoid = [Float](repeating: 0, count: n * half)
        }
        return cachedTanh.withUnsafeMutableBufferPointer { th in
            cachedSigmoid.withUnsafeMutableBufferPointer { sg in
                input.data.withUnsafeBufferPointer { x in
                    Tensor(shape: [n, c2 / 2, h, w]) { out in
                        for i in 0..<n {
                            let a = x.baseAddress! + i * 2 * half, b = a + half
                            let o = i * half
                            for j in 0..<half {
                                let t = tanhf(a[j])
                                let s = 1 / (1 + expf(-b[j]))
                                th[o + j] = t
                                sg[o + j] = s
                                out[o + j] = t * s
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (n, c2, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        precondition(gradOutput.shape == [n, c2 / 2, h, w], "gradient shape \(gradOutput.shape) does not match output")
        let half = c2 / 2 * h * w
        return cachedTanh.withUnsafeBufferPointer { th in
            cachedSigmoid.withUnsafeBufferPointer { sg in
                gradOutput.data.withUnsafeBufferPointer { dy in
                    Tensor(shape: inputShape) { dx in
                        for i in 0..<n {
                            let da = dx.baseAddress! + i * 2 * half, db = da + half
                            let o = i * half
                            for j in 0..<half {
                                let t = th[o + j], s = sg[o + j], g = dy[o + j]
                                da[j] = g * (1 - t * t) * s
                                db[j] = g * t * s * (1 - s)
                            }
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `f` applied to every element.
@inline(__always)
func elementwise(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    x.data.withUnsafeBufferPointer { src in
        Tensor(shape: x.shape) { dst in
            for i in 0..<src.count { dst[i] = f(src[i]) }
        }
    }
}

/// `f(x, g)` applied to every pair of elements of two tensors of the same shape.
@inline(__always)
func elementwise(_ x: Tensor, _ g: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(x.shape == g.shape, "gradient shape \(g.shape) does not match input shape \(x.shape)")
    return x.data.withUnsafeBufferPointer { xs in
        g.data.withUnsafeBufferPointer { gs in
            Tensor(shape: x.shape) { dst in
                for i in 0..<xs.count { dst[i] = f(xs[i], gs[i]) }
            }
        }
    }
}
