/// The shape of a 2-D convolution window: kernel size, stride, and zero padding on each edge.
/// Padding may be negative on the bottom or right edge (a crop), which the causal PixelCNN stacks
/// use to shift their receptive field up or left.
package struct ConvolutionGeometry: Equatable, Sendable {
    package var kernelHeight: Int
    package var kernelWidth: Int
    package var stride: Int
    package var padTop: Int
    package var padLeft: Int
    package var padBottom: Int
    package var padRight: Int

    /// A square `kernel × kernel` window with the same `padding` on every edge (PyTorch's Conv2d).
    static func square(kernel: Int, stride: Int, padding: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(kernelHeight: kernel, kernelWidth: kernel, stride: stride,
                            padTop: padding, padLeft: padding, padBottom: padding, padRight: padding)
    }

    func outputHeight(_ height: Int) -> Int {
        let span = height + padTop + padBottom - kernelHeight
        precondition(span >= 0, "input height \(height) is smaller than the kernel window")
        return span / stride + 1
    }

    func outputWidth(_ width: Int) -> Int {
        let span = width + padLeft + padRight - kernelWidth
        precondition(span >= 0, "input width \(width) is smaller than the kernel window")
        return span / stride + 1
    }

    /// True when the column matrix equals the input itself (1×1, stride 1, no padding).
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && stride == 1
            && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
    }

    /// Output columns `ox` whose input column `ox * stride - padLeft + kx` lies in `0..<width`.
    @inline(__always)
    func validColumns(kx: Int, width: Int, outputWidth: Int) -> Range<Int> {
        // ix >= 0  ⇔  ox >= ceil((padLeft - kx) / stride);  ix <= width - 1  ⇔  ox <= floor((width - 1 + padLeft - kx) / stride).
        let lowNumerator = padLeft - kx
        let low = lowNumerator <= 0 ? 0 : (lowNumerator + stride - 1) / stride
        let highNumerator = width - 1 + padLeft - kx
        let high = highNumerator < 0 ? 0 : min(outputWidth, highNumerator / stride + 1)
        return low..<max(low, high)
    }
}

/// Unfolds output rows `rows` of one image `[channels, height, width]` into the column matrix
/// `[channels · kh · kw, rows.count · outW]`: row `(c · kh + ky) · kw + kx`, column
/// `(oy − rows.lowerBound) · outW + ox` holds `input[c, oy · stride − padTop + ky, ox · stride − padLeft + kx]`,
/// or 0 in the padding.
func im2col(
    _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    geometry g: ConvolutionGeometry, outputRows rows: Range<Int>, outputWidth: Int,
    into columns: UnsafeMutablePointer<Float>
) {
    let plane = rows.count * outputWidth
    var row = columns
    for c in 0..<channels {
        let channel = input + c * height * width
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let valid = g.validColumns(kx: kx, width: width, outputWidth: outputWidth)
                for oy in rows {
                    let out = row + (oy - rows.lowerBound) * outputWidth
                    let iy = oy * g.stride - g.padTop + ky
                    if iy < 0 || iy >= height || valid.isEmpty {
                        out.initialize(repeating: 0, count: outputWidth)
                        continue
                    }
                    if valid.lowerBound > 0 { out.initialize(repeating: 0, count: valid.lowerBound) }
                    if valid.upperBound < outputWidth {
                        (out + valid.upperBound).initialize(repeating: 0, count: outputWidth - valid.upperBound)
                    }
                    let source = channel + iy * width + (valid.lowerBound * g.stride - g.padLeft + kx)
                    if g.stride == 1 {
                        (out + valid.lowerBound).update(from: source, count: valid.count)
                    } else {
                        var s = source
                        var d = out + valid.lowerBound
                        for _ in 0..<valid.count {
                            d.pointee = s.pointee
                            d += 1
                            s += g.stride
                        }
                    }
                }
                row += plane
            }
        }
    }
}

/// The adjoint of `im2col` for the same output rows: adds every entry of the column matrix back
/// onto the input position it was copied from, into `output` (`[channels, height, width]`).
func col2im(
    _ columns: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    geometry g: ConvolutionGeometry, outputRows rows: Range<Int>, outputWidth: Int,
    addingInto output: UnsafeMutablePointer<Float>
) {
    let plane = rows.count * outputWidth
    var row = columns
    for c in 0..<channels {
        let channel = output + c * height * width
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let valid = g.validColumns(kx: kx, width: width, outputWidth: outputWidth)
                if !valid.isEmpty {
                    for oy in rows {
                        let iy = oy * g.stride - g.padTop + ky
                        if iy < 0 || iy >= height { continue }
                        var s = row + (oy - rows.lowerBound) * outputWidth + valid.lowerBound
                        var d = channel + iy * width + (valid.lowerBound * g.stride - g.padLeft + kx)
                        if g.stride == 1 {
                            for i in 0..<valid.count { d[i] += s[i] }
                        } else {
                            for _ in 0..<valid.count {
                                d.pointee += s.pointee
                                d += g.stride
                                s += 1
                            }
                        }
                    }
                }
                row += plane
            }
        }
    }
}
