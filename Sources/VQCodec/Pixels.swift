import Engine
import Images

/// Conversions between the codec's images and the transforms' tensors.
enum Pixels {
    /// The image as `[1, 3, paddedHeight, paddedWidth]` floats in [0, 1] (pixel / 255), padded on
    /// the right and bottom to multiples of `stride` by replicating the last column and row.
    /// Gray images are replicated into the three channels: the models are trained on RGB.
    static func tensor(from image: Image, stride: Int) -> Tensor {
        let paddedHeight = roundUp(image.height, to: stride)
        let paddedWidth = roundUp(image.width, to: stride)
        let plane = paddedHeight * paddedWidth
        let channels = image.channels
        var data = [Float](repeating: 0, count: 3 * plane)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<paddedHeight {
                let sy = min(y, image.height - 1)
                for x in 0..<paddedWidth {
                    let sx = min(x, image.width - 1)
                    let source = (sy * image.width + sx) * channels
                    for c in 0..<3 {
                        data[c * plane + y * paddedWidth + x] = Float(pixels[source + (channels == 1 ? 0 : c)]) / 255
                    }
                }
            }
        }
        return Tensor(shape: [1, 3, paddedHeight, paddedWidth], data: data)
    }

    /// The top-left `width × height` of a reconstruction `[1, 3, H, W]`, rounded and clamped to
    /// 8 bits. Gray images take the rounded mean of the three channels.
    static func image(from tensor: Tensor, width: Int, height: Int, colorType: Image.ColorType) -> Image {
        let (paddedHeight, paddedWidth) = (tensor.shape[2], tensor.shape[3])
        precondition(tensor.shape[0] == 1 && tensor.shape[1] == 3 && paddedHeight >= height && paddedWidth >= width)
        let plane = paddedHeight * paddedWidth
        var pixels = [UInt8](repeating: 0, count: width * height * colorType.channels)
        tensor.data.withUnsafeBufferPointer { t in
            for y in 0..<height {
                for x in 0..<width {
                    let i = y * paddedWidth + x
                    if colorType == .gray {
                        let mean = (t[i] + t[plane + i] + t[2 * plane + i]) / 3
                        pixels[y * width + x] = quantize(mean)
                    } else {
                        for c in 0..<3 { pixels[(y * width + x) * 3 + c] = quantize(t[c * plane + i]) }
                    }
                }
            }
        }
        return Image(width: width, height: height, colorType: colorType, pixels: pixels)
    }

    @inline(__always) static func quantize(_ v: Float) -> UInt8 {
        let scaled = (v * 255).rounded()
        if !(scaled > 0) { return 0 }  // also maps NaN to 0
        return scaled >= 255 ? 255 : UInt8(scaled)
    }

    static func roundUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
}

/// Distortion between two images of the same size and colour type.
public struct Distortion: Sendable, Equatable {
    /// Mean squared error over all samples, on the 0…255 scale.
    public var meanSquaredError: Double
    /// 10·log10(255² / MSE) in dB; infinite for identical images.
    public var psnr: Double

    public init(original: Image, reconstruction: Image) {
        precondition(original.width == reconstruction.width && original.height == reconstruction.height
                     && original.colorType == reconstruction.colorType, "images differ in size or colour type")
        var sum: Double = 0
        for i in original.pixels.indices {
            let d = Double(original.pixels[i]) - Double(reconstruction.pixels[i])
            sum += d * d
        }
        meanSquaredError = sum / Double(original.pixels.count)
        psnr = meanSquaredError == 0 ? .infinity : 10 * log10(255 * 255 / meanSquaredError)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
