#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Mean squared error `mean((prediction − target)²)` over every element, and its gradient
/// `2 (prediction − target) / count` with respect to the prediction.
public enum MeanSquaredError {
    public static func evaluate(prediction: Tensor, target: Tensor) -> (loss: Float, gradient: Tensor) {
        precondition(prediction.shape == target.shape, "prediction \(prediction.shape) and target \(target.shape) differ")
        precondition(prediction.count > 0, "mean of no elements")
        var sum: Double = 0
        let scale = 2 / Float(prediction.count)
        let gradient = prediction.data.withUnsafeBufferPointer { p in
            target.data.withUnsafeBufferPointer { t in
                Tensor(shape: prediction.shape) { g in
                    for i in 0..<p.count {
                        let d = p[i] - t[i]
                        sum += Double(d * d)
                        g[i] = scale * d
                    }
                }
            }
        }
        return (Float(sum / Double(prediction.count)), gradient)
    }
}

/// Softmax cross-entropy of NCHW logits against integer targets, the PixelCNN prior's rate.
///
/// Logits `[N, groups · K, H, W]`: channels `g·K ..< (g+1)·K` are the unnormalised
/// log-probabilities of group g's K symbols at each position. Targets `[N, groups, H, W]`, each in
/// `0..<K`. The loss is the mean over all N·groups·H·W symbols of `−log softmax(logits)[target]`.
public enum SoftmaxCrossEntropy {
    public struct Result: Sendable {
        /// Mean cross-entropy per symbol in nats.
        public var nats: Float
        /// Mean cross-entropy per symbol in bits (`nats / ln 2`): the ideal code length.
        public var bits: Float { nats / Float(M_LN2) }
        /// d(nats)/d(logits) = `(softmax(logits) − onehot(target)) / symbolCount`, shape of the logits.
        public var gradient: Tensor
    }

    public static func evaluate(logits: Tensor, targets: [Int], groups: Int = 1) -> Result {
        let (n, channels, h, w) = logits.nchw
        precondition(groups > 0 && channels % groups == 0, "\(channels) logit channels do not split into \(groups) groups")
        let k = channels / groups, plane = h * w
        let symbols = n * groups * plane
        precondition(targets.count == symbols, "expected \(symbols) targets for logits \(logits.shape), found \(targets.count)")
        var total: Double = 0
        let scale = 1 / Float(symbols)
        let gradient = logits.data.withUnsafeBufferPointer { z in
            Tensor(shape: logits.shape) { g in
                for b in 0..<n {
                    for group in 0..<groups {
                        let base = (b * groups + group) * k * plane
                        for p in 0..<plane {
                            let target = targets[(b * groups + group) * plane + p]
                            precondition(target >= 0 && target < k, "target \(target) outside 0..<\(k)")
                            var maximum = -Float.infinity
                            for s in 0..<k { maximum = max(maximum, z[base + s * plane + p]) }
                            var denominator: Float = 0
                            for s in 0..<k {
                                let e = expf(z[base + s * plane + p] - maximum)
                                g[base + s * plane + p] = e
                                denominator += e
                            }
                            total += Double(logf(denominator) + maximum - z[base + target * plane + p])
                            let normaliser = scale / denominator
                            for s in 0..<k { g[base + s * plane + p] *= normaliser }
                            g[base + target * plane + p] -= scale
                        }
                    }
                }
            }
        }
        return Result(nats: Float(total / Double(symbols)), gradient: gradient)
    }
}
