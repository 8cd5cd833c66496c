import Container
import Foundation
import Images
import Quantizer

extension VQCodec {
    /// Everything `vqcodec eval` and `vqcodec rd` report for one image: a real encode and decode,
    /// the distortion of what the decoder returns, and the rates the model could claim.
    public struct Evaluation: Sendable {
        public var width: Int
        public var height: Int
        /// Real rate: 8 × file bytes / pixels.
        public var bitsPerPixel: Double
        /// Σ −log2 p under the integer prior, per pixel (the payload's ideal size).
        public var integerPriorBitsPerPixel: Double
        /// Cross-entropy under the float prior per pixel (nil when the model file has no float prior).
        public var floatPriorBitsPerPixel: Double?
        /// G·log2 K per latent position, per pixel: the rate without a prior.
        public var uniformBitsPerPixel: Double
        public var distortion: Distortion
        /// Distinct codes used in this image, per group.
        public var codesUsed: [Int] { codebookUsage.codesUsed }
        /// How often each code appeared in this image, per group (combine images with
        /// `CodebookUsage.combined` to see how much of each codebook a whole folder uses).
        public var codebookUsage: CodebookUsage
        public var encodeSeconds: Double
        public var decodeSeconds: Double
        public var fileBytes: Int
    }

    /// Encodes and decodes `image`, checks that the decoder recovered the encoder's symbols, and
    /// measures rates and distortion.
    public static func evaluate(_ image: Image, model: CodecModel, options: EncodeOptions = EncodeOptions()) throws -> Evaluation {
        let startEncode = Date()
        let encoded = try encode(image, model: model, options: options)
        let encodeSeconds = Date().timeIntervalSince(startEncode)
        let startDecode = Date()
        let decoded = try decode(encoded.bytes, model: model, threads: options.threads)
        let decodeSeconds = Date().timeIntervalSince(startDecode)
        guard decoded.symbols == encoded.symbols else {
            throw CodecError.tileUndecodable(tile: -1, reason: "decoded symbols differ from the encoded ones: an encoder/decoder mismatch")
        }
        let header = encoded.header
        let pixels = Double(image.width * image.height)
        let config = model.configuration
        let positions = Double(header.latent.height * header.latent.width)
        var floatBits: Double?
        if let floatPrior = model.floatPrior {
            var total = 0.0
            for index in 0..<header.tileCount {
                let rect = header.latentRect(ofTile: index)
                let tile = Tiles.extract(encoded.symbols, groups: config.groups, latentWidth: header.latent.width,
                                         latentHeight: header.latent.height, rect: rect)
                // The float prior, like the transforms, keeps per-call caches: same lock.
                total += model.withTransforms { _ in
                    floatPrior.crossEntropyBits(symbols: tile, batch: 1, height: rect.height, width: rect.width)
                }
            }
            floatBits = total / pixels
        }
        let usage = CodebookUsage(symbols: encoded.symbols, groups: config.groups,
                                  plane: header.latent.height * header.latent.width, codebookSize: config.codebookSize)
        return Evaluation(
            width: image.width, height: image.height, bitsPerPixel: header.bitsPerPixel,
            integerPriorBitsPerPixel: encoded.priorBits / pixels, floatPriorBitsPerPixel: floatBits,
            uniformBitsPerPixel: Double(config.groups) * log2(Double(config.codebookSize)) * positions / pixels,
            distortion: Distortion(original: image, reconstruction: decoded.image),
            codebookUsage: usage, encodeSeconds: encodeSeconds, decodeSeconds: decodeSeconds,
            fileBytes: encoded.bytes.count)
    }
}
