import Container
import Foundation
import Images
import Quantizer
import Transforms

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
        if let floatPrior = try model.floatPrior() {
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

extension VQCodec {
    /// ``evaluate(_:model:options:)`` for every quality level of a progressive model, level 1
    /// first. Each level is a real encode at that many stages and its decode; each file is also
    /// checked to be byte-identical to the full-quality file cut to that level (``truncate(_:toStages:limits:)``),
    /// which the format promises. Codes used are those of the level's own (last) stage.
    public static func evaluateStages(_ image: Image, model: ProgressiveCodecModel,
                                      options: EncodeOptions = EncodeOptions()) throws -> [Evaluation] {
        let pixels = Double(image.width * image.height)
        var rows: [Evaluation] = []
        var files: [[UInt8]] = []
        for stages in 1...model.stageCount {
            let startEncode = Date()
            let encoded = try encode(image, model: model, stages: stages, options: options)
            let encodeSeconds = Date().timeIntervalSince(startEncode)
            var decodeOptions = DecodeOptions()
            decodeOptions.threads = options.threads
            decodeOptions.transformBlockPixels = options.transformBlockPixels
            decodeOptions.limits = options.limits
            let startDecode = Date()
            let decoded = try decode(encoded.bytes, model: model, options: decodeOptions)
            let decodeSeconds = Date().timeIntervalSince(startDecode)
            guard decoded.stageSymbols == encoded.stageSymbols else {
                throw CodecError.streamUndecodable(stage: stages, tile: -1,
                                                   reason: "decoded symbols differ from the encoded ones: an encoder/decoder mismatch")
            }
            let header = encoded.header
            let (h, w) = (header.fields.latentHeight, header.fields.latentWidth)
            var floatBits: Double?
            if let floatPriors = try model.floatPriors() {
                var total = 0.0
                let groups = header.stages.map(\.groups)
                for index in 0..<header.tileCount {
                    let rect = header.latentRect(ofTile: index)
                    let tiles = zip(encoded.stageSymbols, groups).map {
                        Tiles.extract($0, groups: $1, latentWidth: w, latentHeight: h, rect: rect)
                    }
                    // The float priors keep per-call caches, like the transforms: same lock.
                    total += model.withTransforms { _ in
                        (1...stages).reduce(0.0) { sum, k in
                            sum + floatPriors.crossEntropyBits(stage: k, symbols: tiles[k - 1], earlier: Array(tiles[..<(k - 1)]),
                                                               batch: 1, height: rect.height, width: rect.width)
                        }
                    }
                }
                floatBits = total / pixels
            }
            let last = model.configuration.stages[stages - 1]
            let usage = CodebookUsage(symbols: encoded.stageSymbols[stages - 1], groups: last.groups, plane: h * w,
                                      codebookSize: last.codebookSize)
            rows.append(Evaluation(
                width: image.width, height: image.height, bitsPerPixel: header.bitsPerPixel,
                integerPriorBitsPerPixel: encoded.priorBits.reduce(0, +) / pixels, floatPriorBitsPerPixel: floatBits,
                uniformBitsPerPixel: model.configuration.boundBitsPerPixel(stages: stages) * Double(h * w * model.configuration.stride * model.configuration.stride) / pixels,
                distortion: Distortion(original: image, reconstruction: decoded.image),
                codebookUsage: usage, encodeSeconds: encodeSeconds, decodeSeconds: decodeSeconds,
                fileBytes: encoded.bytes.count))
            files.append(encoded.bytes)
        }
        for stages in 1..<model.stageCount {
            guard try truncate(files[model.stageCount - 1], toStages: stages, limits: options.limits) == files[stages - 1] else {
                throw CodecError.streamUndecodable(
                    stage: stages, tile: -1,
                    reason: "the full file cut to \(stages) stages differs from the file encoded at \(stages) stages")
            }
        }
        return rows
    }
}
