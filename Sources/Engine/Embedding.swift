#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SeededRandom

/// Looks up learned vectors for symbols: one table of `symbolCount` vectors of `dimension` values
/// per channel group (the vector quantizer's G codebook groups each have their own alphabet).
///
/// Input: symbols `[N, groups, H, W]` as integers in `0..<symbolCount`, flattened in that order.
/// Output: `[N, groups · dimension, H, W]` with
/// `output[n, g · dimension + e, y, x] = weight[g, symbols[n, g, y, x], e]`, so group g occupies a
/// contiguous block of channels, the layout `MaskedConv2d` and `GatedPixelCNNBlock` expect.
/// Parameter: `<name>.weight` `[groups, symbolCount, dimension]`, initialised N(0, 1) like PyTorch's
/// `nn.Embedding`. Backward adds every output gradient into the row it was read from.
public final class Embedding {
    public let weight: Parameter
    public let groups: Int
    public let symbolCount: Int
    public let dimension: Int
    private var cachedSymbols: [Int] = []
    private var cachedShape: [Int] = []

    @_specialize(exported: true, where G == SplitMix64)
    public init<G: RandomNumberGenerator>(
        name: String, groups: Int = 1, symbolCount: Int, dimension: Int, using generator: inout G
    ) {
        precondition(groups > 0 && symbolCount > 0 && dimension > 0, "embedding sizes must be positive")
        self.groups = groups
        self.symbolCount = symbolCount
        self.dimension = dimension
        var values = [Float](repeating: 0, count: groups * symbolCount * dimension)
        for i in values.indices {
            // Box–Muller: two uniforms in (0, 1] give one standard normal value.
            let u1 = Float.random(in: Float.ulpOfOne...1, using: &generator)
            let u2 = Float.random(in: 0..<1, using: &generator)
            values[i] = (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
        }
        weight = Parameter(name: name + ".weight", value: Tensor(shape: [groups, symbolCount, dimension], data: values))
    }

    public var parameters: [Parameter] { [weight] }

    /// - symbols: `shape.reduce(1, *)` values, each in `0..<symbolCount`.
    /// - shape: `[N, groups, H, W]`.
    public func forward(symbols: [Int], shape: [Int]) -> Tensor {
        precondition(shape.count == 4 && shape[1] == groups, "symbols must be [N, \(groups), H, W], found \(shape)")
        precondition(symbols.count == shape.reduce(1, *), "\(symbols.count) symbols do not fill shape \(shape)")
        cachedSymbols = symbols
        cachedShape = shape
        let (n, plane) = (shape[0], shape[2] * shape[3])
        let (k, d) = (symbolCount, dimension)
        return weight.value.data.withUnsafeBufferPointer { table in
            Tensor(shape: [n, groups * d, shape[2], shape[3]]) { out in
                for b in 0..<n {
                    for g in 0..<groups {
                        let row = (b * groups + g) * plane
                        for p in 0..<plane {
                            let symbol = symbols[row + p]
                            precondition(symbol >= 0 && symbol < k, "symbol \(symbol) outside 0..<\(k)")
                            let vector = (g * k + symbol) * d
                            for e in 0..<d { out[((b * groups + g) * d + e) * plane + p] = table[vector + e] }
                        }
                    }
                }
            }
        }
    }

    /// Adds the gradient of the last lookup into `weight.gradient`. The symbols have no gradient.
    public func backward(_ gradOutput: Tensor) {
        let shape = cachedShape
        precondition(gradOutput.shape == [shape[0], groups * dimension, shape[2], shape[3]],
                     "gradient shape \(gradOutput.shape) does not match the last output")
        let (n, plane) = (shape[0], shape[2] * shape[3])
        let (k, d) = (symbolCount, dimension)
        gradOutput.data.withUnsafeBufferPointer { dy in
            weight.gradient.data.withUnsafeMutableBufferPointer { table in
                for b in 0..<n {
                    for g in 0..<groups {
                        let row = (b * groups + g) * plane
                        for p in 0..<plane {
                            let vector = (g * k + cachedSymbols[row + p]) * d
                            for e in 0..<d { table[vector + e] += dy[((b * groups + g) * d + e) * plane + p] }
                        }
                    }
                }
            }
        }
    }
}
