/// Scales all gradients together so that their global L2 norm (over every element of every
/// parameter's gradient) is at most `maxNorm`, and returns the norm before clipping.
///
/// Gradients whose norm is already at most `maxNorm` are left exactly as they are. When the norm
/// is not finite (an overflow or a NaN upstream), the gradients are left as they are too and the
/// returned norm says so: the caller should skip the step. The sum of squares is accumulated in
/// Double, in parameter order, so the result does not depend on anything but the gradients.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    precondition(maxNorm > 0, "maxNorm must be positive")
    var sumOfSquares: Double = 0
    for parameter in parameters {
        for g in parameter.gradient.data {
            let d = Double(g)
            sumOfSquares += d * d
        }
    }
    let norm = sumOfSquares.squareRoot()
    guard norm.isFinite, norm > Double(maxNorm) else { return Float(norm) }
    let scale = Float(Double(maxNorm) / norm)
    for parameter in parameters {
        parameter.gradient.data.withUnsafeMutableBufferPointer { g in
            for i in 0..<g.count { g[i] *= scale }
        }
    }
    return Float(norm)
}
