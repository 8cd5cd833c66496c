import Container
import Engine
import Images
import Quantizer

extension CodeSearch {
    /// The symbols of the first `count` stages of a progressive model, searched stage by stage:
    /// stage k minimises D(stages 1…k) + μ_k·R(stage k) with stages 1…k−1 fixed, its candidates the
    /// codes nearest to what those stages left of the analysis output. Stage k never looks at a
    /// later stage, so a file encoded at S stages and cut to k is the file encoded at k stages,
    /// as with the plain encoder. With `slope` nil, each stage's trade-off follows the curve's
    /// slope at the rate of stages 1…k.
    static func stageSymbols(of image: Image, model: ProgressiveCodecModel, stages count: Int, tiles: [LatentRect],
                             latentHeight h: Int, latentWidth w: Int, block: Int, plan: Plan, slope: Double?,
                             threads: Int) throws -> [[Int32]] {
        let config = model.configuration
        let channels = config.latentChannels
        let (analysis, books, halo) = model.withTransforms { transforms in
            (BlockTransforms.latent(of: image, stride: config.stride, channels: channels, halo: transforms.analysisHalo,
                            latentHeight: h, latentWidth: w, block: block) { transforms.analysisLatent(images: $0) },
             transforms.codebooks, transforms.synthesisHalo)
        }
        var residual = analysis
        var fixed = [Float](repeating: 0, count: channels * h * w)
        var chosen: [[Int32]] = []
        var earlierBits = 0.0
        let pixels = Double(image.width * image.height)
        let priors = model.priors
        var curvature: LatentCurvature?
        for k in 0..<count {
            let codebooks = books[k]
            let earlier = chosen
            let earlierGroups = config.stages.prefix(k).map(\.groups)
            let subject = Subject(
                codebooks: codebooks, target: residual, fixed: k == 0 ? nil : fixed, stride: config.stride,
                synthesisHalo: halo,
                nearest: codebooks.nearestSymbols(latent: Tensor(shape: [1, channels, h, w], data: residual)),
                earlierBitsPerPixel: earlierBits / pixels,
                synthesisGradient: { latent, outputGradient in
                    model.withTransforms { $0.synthesisGradient(latent: latent, outputGradient: outputGradient) }
                },
                tables: { rect, symbols, body in
                    let earlierTiles = zip(earlier, earlierGroups).map {
                        Tiles.extract($0, groups: $1, latentWidth: w, latentHeight: h, rect: rect)
                    }
                    priors.forEachTable(stage: k + 1, symbols: symbols, earlier: earlierTiles,
                                        height: rect.height, width: rect.width, body)
                })
            // Effort 0's model of the synthesis is taken once, at the analysis output, for every stage.
            if plan.distortion == .latent && curvature == nil {
                curvature = latentCurvature(analysis: analysis, image: image, subject: subject, latentHeight: h,
                                            latentWidth: w, block: block)
            }
            let (symbols, report) = try self.symbols(of: image, subject: subject, tiles: tiles, latentHeight: h,
                                                     latentWidth: w, block: block, plan: plan, slope: slope, threads: threads,
                                                     curvature: curvature)
            chosen.append(symbols)
            earlierBits += report.finalBits
            if k + 1 < count {
                let quantized = codebooks.latent(symbols: symbols, batch: 1, height: h, width: w)
                for i in residual.indices {
                    residual[i] -= quantized.data[i]
                    fixed[i] += quantized.data[i]
                }
            }
        }
        return chosen
    }
}
