import Engine
import Images

/// Conversions between the codec's images and the transforms' tensors.
enum Pixels {
    /// The image as `[1, 3, paddedHeight, paddedWidth]` floats in [0, 1] (pixel / 255), padded on
    /// the right and bottom to multiples of `stride` by replicating the last column and row.
    /// Gray images are replicated into the three channels: the models are trained on RGB.
    static func tensor(from image: Image, stride: Int) -> Tensor {
        let rows = roundUp(image.height, to: stride), columns = roundUp(image.width, to: stride)
        return tensor(from: image, top: 0, left: 0, height: rows, width: columns)
    }

    /// Rows `top ..< top + height` and columns `left ..< left + width` of the padded image that
    /// ``tensor(from:stride:)`` makes, as `[1, 3, height, width]`: the same values, cut out.
    static func tensor(from image: Image, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        precondition(top >= 0 && left >= 0 && height > 0 && width > 0)
        let plane = height * width
        let channels = image.channels
        var data = [Float](repeating: 0, count: 3 * plane)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<height {
                let sy = min(top + y, image.height - 1)
                for x in 0..<width {
                    let sx = min(left + x, image.width - 1)
                    let source = (sy * image.width + sx) * channels
                    for c in 0..<3 {
                        data[c * plane + y * width + x] = Float(pixels[source + (channels == 1 ? 0 : c)]) / 255
                    }
                }
            }
        }
        return Tensor(shape: [1, 3, height, width], data: data)
    }

    /// The top-left `width × height` of a reconstruction `[1, 3, H, W]`, rounded and clamped to
    /// 8 bits. Gray images take the rounded mean of the three channels.
    static func image(from tensor: Tensor, width: Int, height: Int, colorType: Image.ColorType) -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * colorType.channels)
        write(tensor, originTop: 0, originLeft: 0, rows: 0..<height, columns: 0..<width,
              into: &pixels, imageWidth: width, colorType: colorType)
        return Image(width: width, height: height, colorType: colorType, pixels: pixels)
    }

    /// Writes part of a reconstruction `[1, 3, H, W]` whose top-left sample is image pixel
    /// (`originLeft`, `originTop`) into an image's samples: the pixels of image rows `rows` and
    /// columns `columns`, which must lie inside the tensor. Rounds and clamps to 8 bits; gray
    /// images take the rounded mean of the three channels.
    static func write(_ tensor: Tensor, originTop: Int, originLeft: Int, rows: Range<Int>, columns: Range<Int>,
                      into pixels: inout [UInt8], imageWidth: Int, colorType: Image.ColorType) {
        let (tensorHeight, tensorWidth) = (tensor.shape[2], tensor.shape[3])
        precondition(tensor.shape[0] == 1 && tensor.shape[1] == 3)
        precondition(rows.lowerBound >= originTop && rows.upperBound <= originTop + tensorHeight
                     && columns.lowerBound >= originLeft && columns.upperBound <= originLeft + tensorWidth,
                     "the region to write lies outside the reconstruction")
        let plane = tensorHeight * tensorWidth
        tensor.data.withUnsafeBufferPointer { t in
            pixels.withUnsafeMutableBufferPointer { out in
                for y in rows {
                    for x in columns {
                        let i = (y - originTop) * tensorWidth + (x - originLeft)
                        if colorType == .gray {
                            out[y * imageWidth + x] = quantize((t[i] + t[plane + i] + t[2 * plane + i]) / 3)
                        } else {
                            for c in 0..<3 { out[(y * imageWidth + x) * 3 + c] = quantize(t[c * plane + i]) }
                        }
                    }
                }
            }
        }
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
