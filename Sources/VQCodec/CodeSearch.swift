import Container
import Engine
import Foundation
import Images
import Quantizer
import RangeCoder
import SeededRandom
import Transforms

/// Rate–distortion-optimised code choice: the encoder side of `--effort 1…3`.
///
/// The nearest code to the analysis output minimises distance in latent space; what a user gets
/// is pixel error and file size. The search minimises, over the symbols, the Lagrangian
///
///     J = D + μ·R,    D = Σ (clamp(ŝ) − s)² over the image's samples (scale [0, 1]),
///                     R = Σ −log2 p(symbol) under the integer prior (the bits the range coder pays),
///
/// choosing each symbol among the `candidates` codes nearest to the analysis output. It works in
/// sweeps; each sweep visits one coset of the latent grid (positions `spacing` apart in both
/// directions) and, for every position and group of it, scores each candidate code c against the
/// current one with a second-order model of the distortion and the exact rate of that symbol:
///
///     ΔJ(c) ≈ gᵀΔ + ΔᵀHΔ + μ·(bits(c) − bits(current)),    Δ = code vector(c) − code vector(current)
///
/// g = ∂D/∂L̂ at that position comes from one backward pass through the synthesis (blockwise, like
/// the decoder's synthesis); H is the synthesis's Gauss–Newton matrix JᵀJ averaged over the image's
/// positions, estimated once from a backward pass of random ±1 pixel noise (E[aaᵀ] = JᵀJ for
/// a = Jᵀu). A position's groups are decided one after another, each change moving the gradient
/// seen by the next by 2HΔ. The bits come from the prior's tables for the current symbols.
///
/// After each sweep the true J is measured (a synthesis pass and a prior pass, which also give the
/// next sweep's gradient and tables); a sweep that did not lower it is undone. So J never rises,
/// and the result is a deterministic function of the image, the model, the plan and μ: every
/// quantity is computed in a fixed order, on one thread per tile, and by the transforms exactly as
/// the encoder's analysis is (independent of the thread count).
///
/// The decoder and the format do not change: the output is a list of symbols like any other.
enum CodeSearch {
    /// How hard to search: the effort levels of `vqcodec encode --effort`.
    struct Plan: Sendable, Equatable {
        /// Codes considered per position and group (the nearest ones), the current one included;
        /// all of a codebook's codes when it has fewer.
        var candidates: Int
        /// Passes over the whole grid; each is `spacing²` sweeps.
        var passes: Int
        /// Distance between the positions decided together in one sweep.
        var spacing: Int
        /// How a change's distortion is judged.
        var distortion: DistortionModel = .pixels

        /// How the search judges what a change of code does to the pixel error.
        enum DistortionModel: Sendable, Equatable {
            /// Through the synthesis at the current symbols (gradient and average curvature),
            /// each sweep checked by a synthesis pass: efforts 1–3.
            case pixels
            /// From the latent error alone, e = code vector − analysis output, weighted by the
            /// synthesis's average curvature H at the analysis output: D ≈ D_synthesis + Σ eᵀHe.
            /// Positions do not interact in this model, so one sweep decides them all, and no
            /// synthesis pass checks it: effort 0.
            case latent
        }

        /// The plan of `options.effort` (0…3); nil with ``VQCodec/EncodeOptions/nearestCodes``
        /// (nearest codes, no search). Checks the effort and the trade-off the caller set.
        static func forOptions(_ options: VQCodec.EncodeOptions) -> Plan? {
            precondition(VQCodec.effortRange.contains(options.effort), "effort \(options.effort) outside \(VQCodec.effortRange)")
            precondition(options.rateDistortionSlope.map { $0.isFinite && $0 >= 0 } ?? true,
                         "the rate–distortion slope must be finite and ≥ 0")
            precondition(!options.nearestCodes || options.effort == 0, "nearest codes are effort 0's alternative")
            if options.nearestCodes { return nil }
            switch options.effort {
            case 0: return Plan(candidates: latentCandidates, passes: 1, spacing: 1, distortion: .latent)
            case 1: return Plan(candidates: 4, passes: 1, spacing: 2)
            case 2: return Plan(candidates: 8, passes: 2, spacing: 2)
            case 3: return Plan(candidates: 16, passes: 4, spacing: 2)
            default: preconditionFailure("effort \(options.effort)")
            }
        }

        /// Candidates per position and group at effort 0.
        static let latentCandidates = 8
    }

    /// What a search did, for reports and tests.
    struct Report: Sendable, Equatable {
        /// J, D and R of the nearest codes, then of the result (D as a sum of squared errors on
        /// the [0, 1] scale over every sample, R in bits).
        var initialDistortion: Double, initialBits: Double
        var finalDistortion: Double, finalBits: Double
        /// Sweeps run and sweeps kept.
        var sweeps: Int, keptSweeps: Int
        /// Symbols that differ from the nearest codes.
        var changedSymbols: Int
    }

    /// What one search chooses codes for: one codebook set (a one-stage model's, or one stage of a
    /// progressive model's), the latent its codes approximate, and how to run the synthesis and the
    /// prior on candidate symbols.
    struct Subject {
        /// The codebooks the symbols index, `[G, K, d]`.
        var codebooks: Codebooks
        /// `[C, h, w]`: what the codes approximate: the analysis output, less the earlier stages' codes.
        var target: [Float]
        /// `[C, h, w]`: the decoded latent of earlier stages, added to the codes' before synthesis (nil: none).
        var fixed: [Float]?
        var stride: Int
        var synthesisHalo: Int
        /// The symbols the plain encoder takes, `[G, h, w]`: the search starts from them.
        var nearest: [Int32]
        /// Bits per pixel of earlier stages, for the default trade-off (0 for a one-stage model).
        var earlierBitsPerPixel: Double = 0
        /// A vector–Jacobian product through the synthesis (``VQVAE/synthesisGradient(latent:outputGradient:)``), under the model's lock.
        var synthesisGradient: (_ latent: Tensor, _ outputGradient: (Tensor) -> Tensor) -> Tensor
        /// The prior's tables for one tile's symbols `[G, rect]`, in coding order (safe to call from several threads).
        var tables: (_ rect: LatentRect, _ symbols: [Int32], _ body: (_ symbol: Int, _ table: FrequencyTable) -> Void) -> Void
    }

    /// The symbols `[G, h, w]` of `image` that the search settles on.
    ///
    /// - tiles: the file's tiles (the prior's context never crosses their edges), covering `h × w`.
    /// - slope: the trade-off in dB per bit per pixel: a change is worth making when it saves more
    ///   than one bit per pixel for each `slope` dB it costs (or gains more dB than its bits cost).
    ///   Converted to μ at the nearest codes' distortion: μ = slope · ln 10 / 10 · D₀ / pixels.
    ///   nil: ``VQCodec/defaultRateDistortionSlope(bitsPerPixel:)`` at the rate of the nearest
    ///   codes (with the earlier stages' bits).
    /// - curvature: for a ``Plan/DistortionModel/latent`` plan, the image's ``LatentCurvature``
    ///   (computed here from `subject.target` when nil: right for a one-stage model, whose target
    ///   is the analysis output).
    static func symbols(of image: Image, subject: Subject, tiles: [LatentRect], latentHeight h: Int,
                        latentWidth w: Int, block: Int, plan: Plan, slope: Double?, threads: Int,
                        curvature latentCurvature: LatentCurvature? = nil) throws -> (symbols: [Int32], report: Report) {
        if plan.distortion == .latent {
            let curvature = latentCurvature ?? self.latentCurvature(
                analysis: subject.target, image: image, subject: subject, latentHeight: h, latentWidth: w, block: block)
            return try latentSymbols(of: image, subject: subject, tiles: tiles, latentHeight: h, latentWidth: w,
                                     plan: plan, slope: slope, threads: threads, curvature: curvature)
        }
        let codebooks = subject.codebooks
        let k = min(plan.candidates, codebooks.codebookSize)
        let channels = codebooks.channels
        var symbols = subject.nearest
        let candidates = nearestCandidates(target: subject.target, nearest: symbols, codebooks: codebooks,
                                           latentHeight: h, latentWidth: w, count: k)
        var (distortion, gradient) = distortionPass(symbols: symbols, image: image, subject: subject,
                                                    latentHeight: h, latentWidth: w, block: block)
        var (bits, candidateBits) = try ratePass(symbols: symbols, candidates: candidates, count: k, subject: subject,
                                             tiles: tiles, latentHeight: h, latentWidth: w, threads: threads)
        let curvature = curvaturePass(symbols: symbols, image: image, subject: subject,
                                      latentHeight: h, latentWidth: w, block: block)
        let pixels = Double(image.width * image.height)
        let slope = slope ?? VQCodec.defaultRateDistortionSlope(bitsPerPixel: subject.earlierBitsPerPixel + bits / pixels)
        let mu = slope * log(10) / 10 * distortion / pixels
        var cost = distortion + mu * bits
        let (initialDistortion, initialBits) = (distortion, bits)
        var sweeps = 0, kept = 0

        var chooser = Chooser(codebooks: codebooks, curvature: curvature, candidates: candidates, count: k, mu: mu,
                              plane: h * w)
        for _ in 0..<plan.passes {
            var keptInPass = 0
            for cosetY in 0..<plan.spacing {
                for cosetX in 0..<plan.spacing {
                    var proposal = symbols
                    var changes = 0
                    for y in Swift.stride(from: cosetY, to: h, by: plan.spacing) {
                        for x in Swift.stride(from: cosetX, to: w, by: plan.spacing) {
                            let p = y * w + x
                            for c in 0..<channels { chooser.local[c] = Double(gradient[c * h * w + p]) }
                            changes += chooser.decide(position: p, symbols: &proposal, candidateBits: candidateBits).changes
                        }
                    }
                    guard changes > 0 else { continue }
                    sweeps += 1
                    let (newDistortion, newGradient) = distortionPass(
                        symbols: proposal, image: image, subject: subject, latentHeight: h, latentWidth: w, block: block)
                    let (newBits, newCandidateBits) = try ratePass(
                        symbols: proposal, candidates: candidates, count: k, subject: subject, tiles: tiles,
                        latentHeight: h, latentWidth: w, threads: threads)
                    let newCost = newDistortion + mu * newBits
                    if newCost < cost {
                        symbols = proposal
                        (distortion, gradient, bits, candidateBits, cost) = (newDistortion, newGradient, newBits, newCandidateBits, newCost)
                        kept += 1
                        keptInPass += 1
                    }
                }
            }
            if keptInPass == 0 { break }
        }
        let changed = zip(symbols, subject.nearest).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
        return (symbols, Report(initialDistortion: initialDistortion, initialBits: initialBits,
                                finalDistortion: distortion, finalBits: bits,
                                sweeps: sweeps, keptSweeps: kept, changedSymbols: changed))
    }

    /// Effort 0: one sweep over every position under the latent model of the distortion,
    /// D ≈ D_synthesis + Σ_positions eᵀHe with e = code vector − target, no synthesis pass. The
    /// report's final D and R are the model's: D₀ and the nearest codes' measured bits, plus the
    /// changes' modelled ΔD and their exact Δbits in the tables of the nearest codes' context.
    static func latentSymbols(of image: Image, subject: Subject, tiles: [LatentRect], latentHeight h: Int,
                              latentWidth w: Int, plan: Plan, slope: Double?, threads: Int,
                              curvature: LatentCurvature) throws -> (symbols: [Int32], report: Report) {
        let codebooks = subject.codebooks
        let (k, channels, plane) = (min(plan.candidates, codebooks.codebookSize), codebooks.channels, h * w)
        var symbols = subject.nearest
        let candidates = nearestCandidates(target: subject.target, nearest: symbols, codebooks: codebooks,
                                           latentHeight: h, latentWidth: w, count: k)
        let (bits, candidateBits) = try ratePass(symbols: symbols, candidates: candidates, count: k, subject: subject,
                                                 tiles: tiles, latentHeight: h, latentWidth: w, threads: threads)
        // The latent error e of the nearest codes and He at every position `[plane, C]`: the
        // modelled distortion Σ eᵀHe now, the gradient 2He in the sweep.
        let decoded = codebooks.latent(symbols: symbols, batch: 1, height: h, width: w).data
        let H = curvature.matrix
        var curvatureTimesError = [Double](repeating: 0, count: plane * channels)
        var latentDistortion = 0.0
        var e = [Double](repeating: 0, count: channels)
        for p in 0..<plane {
            for c in 0..<channels { e[c] = Double(decoded[c * plane + p] - subject.target[c * plane + p]) }
            var sum = 0.0
            for c in 0..<channels {
                var row = 0.0
                for j in 0..<channels { row += Double(H[c * channels + j]) * e[j] }
                curvatureTimesError[p * channels + c] = row
                sum += e[c] * row
            }
            latentDistortion += sum
        }
        let distortion = curvature.synthesisDistortion + latentDistortion
        let pixels = Double(image.width * image.height)
        let slope = slope ?? VQCodec.defaultRateDistortionSlope(bitsPerPixel: subject.earlierBitsPerPixel + bits / pixels)
        let mu = slope * log(10) / 10 * distortion / pixels

        var chooser = Chooser(codebooks: codebooks, curvature: H, candidates: candidates, count: k, mu: mu, plane: plane)
        var (distortionChange, bitsChange) = (0.0, 0.0)
        for p in 0..<plane {
            // ∂D/∂e = 2He at this position.
            for c in 0..<channels { chooser.local[c] = 2 * curvatureTimesError[p * channels + c] }
            let decision = chooser.decide(position: p, symbols: &symbols, candidateBits: candidateBits)
            distortionChange += decision.distortion
            bitsChange += decision.bits
        }
        let changed = zip(symbols, subject.nearest).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
        return (symbols, Report(initialDistortion: distortion, initialBits: bits,
                                finalDistortion: distortion + distortionChange, finalBits: bits + bitsChange,
                                sweeps: 1, keptSweeps: 1, changedSymbols: changed))
    }

    /// Decides one position's groups, one after another: each candidate is scored against the
    /// current code by ΔJ ≈ gᵀΔ + ΔᵀH_gg Δ + μ·Δbits, the best taken when ΔJ < 0, and an accepted
    /// change moves the gradient the next group sees by 2HΔ. `local` holds g at the position,
    /// `[C]`, set by the caller before each position.
    private struct Chooser {
        let codebooks: Codebooks
        let curvature: [Float]
        let candidates: [Int32]
        let count: Int
        let mu: Double
        let plane: Int
        var local: [Double]
        private var delta: [Float]

        init(codebooks: Codebooks, curvature: [Float], candidates: [Int32], count: Int, mu: Double, plane: Int) {
            (self.codebooks, self.curvature, self.candidates, self.count, self.mu, self.plane) =
                (codebooks, curvature, candidates, count, mu, plane)
            local = [Double](repeating: 0, count: codebooks.channels)
            delta = [Float](repeating: 0, count: codebooks.dimension)
        }

        /// Changes `symbols` at `position` where that lowers the modelled J; returns the number of
        /// changes, their modelled ΔD (gᵀΔ + ΔᵀHΔ) and their Δbits.
        mutating func decide(position p: Int, symbols: inout [Int32],
                             candidateBits: [Float]) -> (changes: Int, distortion: Double, bits: Double) {
            let (groups, dimension, channels) = (codebooks.groups, codebooks.dimension, codebooks.channels)
            let vectors = codebooks.vectors, size = codebooks.codebookSize, k = count
            var result = (changes: 0, distortion: 0.0, bits: 0.0)
            for g in 0..<groups {
                let index = g * plane + p
                let current = Int(symbols[index])
                let options = index * k
                var currentSlot = 0
                while Int(candidates[options + currentSlot]) != current { currentSlot += 1 }
                var bestScore = 0.0, bestSlot = currentSlot, bestDistortion = 0.0, bestRate = 0.0
                for slot in 0..<k where slot != currentSlot {
                    let code = Int(candidates[options + slot])
                    var linear = 0.0
                    for i in 0..<dimension {
                        delta[i] = vectors[(g * size + code) * dimension + i] - vectors[(g * size + current) * dimension + i]
                        linear += local[g * dimension + i] * Double(delta[i])
                    }
                    var quadratic = 0.0
                    for i in 0..<dimension {
                        let row = (g * dimension + i) * channels + g * dimension
                        var s: Float = 0
                        for j in 0..<dimension { s += curvature[row + j] * delta[j] }
                        quadratic += Double(delta[i] * s)
                    }
                    let rate = Double(candidateBits[options + slot] - candidateBits[options + currentSlot])
                    let score = linear + quadratic + mu * rate
                    if score < bestScore { (bestScore, bestSlot, bestDistortion, bestRate) = (score, slot, linear + quadratic, rate) }
                }
                guard bestSlot != currentSlot else { continue }
                let code = Int(candidates[options + bestSlot])
                for i in 0..<dimension {
                    delta[i] = vectors[(g * size + code) * dimension + i] - vectors[(g * size + current) * dimension + i]
                }
                for c in 0..<channels {
                    var s: Float = 0
                    for j in 0..<dimension { s += curvature[c * channels + g * dimension + j] * delta[j] }
                    local[c] += 2 * Double(s)
                }
                symbols[index] = Int32(code)
                result.changes += 1
                result.distortion += bestDistortion
                result.bits += bestRate
            }
            return result
        }
    }

    /// The subject of a one-stage model's search: its codebooks, the analysis output, and the
    /// plain encoder's symbols (the nearest codes, computed exactly as it computes them).
    static func subject(of image: Image, model: CodecModel, latentHeight h: Int, latentWidth w: Int, block: Int) -> Subject {
        let config = model.configuration
        let (target, codebooks, synthesisHalo) = model.withTransforms { vqvae in
            (BlockTransforms.latent(of: image, stride: config.stride, channels: config.latentChannels, halo: vqvae.analysisHalo,
                            latentHeight: h, latentWidth: w, block: block) { vqvae.analysisLatent(images: $0) },
             vqvae.codebooks, vqvae.synthesisHalo)
        }
        let nearest = codebooks.nearestSymbols(latent: Tensor(shape: [1, config.latentChannels, h, w], data: target))
        let prior = model.prior
        return Subject(
            codebooks: codebooks, target: target, fixed: nil, stride: config.stride, synthesisHalo: synthesisHalo,
            nearest: nearest,
            synthesisGradient: { latent, outputGradient in
                model.withTransforms { $0.synthesisGradient(latent: latent, outputGradient: outputGradient) }
            },
            tables: { rect, symbols, body in
                prior.forEachTable(symbols: symbols, height: rect.height, width: rect.width, body)
            })
    }

    /// The `count` codes nearest to `target` at every position and group, `[G, h, w, count]`, the
    /// plain encoder's `nearest` code first (the candidate search sums distances in another order,
    /// so at a near-tie it may rank another code first).
    static func nearestCandidates(target: [Float], nearest: [Int32], codebooks: Codebooks, latentHeight h: Int,
                                  latentWidth w: Int, count: Int) -> [Int32] {
        let found = codebooks.nearestCandidates(latent: Tensor(shape: [1, codebooks.channels, h, w], data: target), count: count)
        var candidates = found
        for (index, symbol) in nearest.enumerated() {
            var list = Array(found[(index * count)..<((index + 1) * count)])
            if let at = list.firstIndex(of: symbol) { list.remove(at: at) } else { list.removeLast() }
            list.insert(symbol, at: 0)
            for j in 0..<count { candidates[index * count + j] = list[j] }
        }
        return candidates
    }

    /// Runs the synthesis block by block over the latent of `symbols`, each block's pixels from a
    /// crop with the synthesis halo (as the decoder does), and back-propagates `outputGradient`
    /// of each block's own pixels (those inside the image) to the latent. Returns the sum the
    /// closure reports and the latent gradient `[C, h, w]` summed over blocks.
    private static func blockwiseGradient(
        symbols: [Int32], image: Image, subject: Subject, latentHeight h: Int, latentWidth w: Int, block: Int,
        outputGradient: (_ reconstruction: Tensor, _ target: Tensor, _ rows: Range<Int>, _ columns: Range<Int>,
                         _ gradient: inout [Float]) -> Double
    ) -> (total: Double, gradient: [Float]) {
        let codebooks = subject.codebooks
        let (groups, channels) = (codebooks.groups, codebooks.channels)
        return blockwiseGradient(channels: channels, image: image, subject: subject, latentHeight: h, latentWidth: w,
                                 block: block, outputGradient: outputGradient) { outer in
            let crop = Tiles.extract(symbols, groups: groups, latentWidth: w, latentHeight: h, rect: outer)
            var latent = codebooks.latent(symbols: crop, batch: 1, height: outer.height, width: outer.width)
            if let fixed = subject.fixed {
                let earlier = Tiles.extract(fixed, groups: channels, latentWidth: w, latentHeight: h, rect: outer)
                for i in latent.data.indices { latent.data[i] += earlier[i] }
            }
            return latent
        }
    }

    /// ``blockwiseGradient(symbols:image:subject:latentHeight:latentWidth:block:outputGradient:)``
    /// for any latent: `latentOf` gives the synthesis input `[1, C, rect]` over a rect.
    private static func blockwiseGradient(
        channels: Int, image: Image, subject: Subject, latentHeight h: Int, latentWidth w: Int, block: Int,
        outputGradient: (_ reconstruction: Tensor, _ target: Tensor, _ rows: Range<Int>, _ columns: Range<Int>,
                         _ gradient: inout [Float]) -> Double,
        latentOf: (LatentRect) -> Tensor
    ) -> (total: Double, gradient: [Float]) {
        let stride = subject.stride
        var total = 0.0
        var gradient = [Float](repeating: 0, count: channels * h * w)
        for core in BlockTransforms.blocks(height: h, width: w, block: block) {
            let outer = BlockTransforms.expand(core, by: subject.synthesisHalo, height: h, width: w)
            let latent = latentOf(outer)
            let target = Pixels.tensor(from: image, top: outer.top * stride, left: outer.left * stride,
                                       height: outer.height * stride, width: outer.width * stride)
            // This block's own pixels, in the crop's coordinates, cut to the image.
            let rows = ((core.top - outer.top) * stride)..<(min((core.top + core.height) * stride, image.height) - outer.top * stride)
            let columns = ((core.left - outer.left) * stride)..<(min((core.left + core.width) * stride, image.width) - outer.left * stride)
            let latentGradient = subject.synthesisGradient(latent) { reconstruction in
                var outGradient = [Float](repeating: 0, count: reconstruction.count)
                total += outputGradient(reconstruction, target, rows, columns, &outGradient)
                return Tensor(shape: reconstruction.shape, data: outGradient)
            }
            for c in 0..<channels {
                for y in 0..<outer.height {
                    let source = (c * outer.height + y) * outer.width
                    let destination = (c * h + outer.top + y) * w + outer.left
                    for x in 0..<outer.width { gradient[destination + x] += latentGradient.data[source + x] }
                }
            }
        }
        return (total, gradient)
    }

    /// D (sum of squared errors of the clamped reconstruction, scale [0, 1], every sample of the
    /// image) and ∂D/∂L̂ `[C, h, w]` (zero where the reconstruction is clamped).
    static func distortionPass(symbols: [Int32], image: Image, subject: Subject, latentHeight h: Int,
                               latentWidth w: Int, block: Int) -> (distortion: Double, gradient: [Float]) {
        let result = blockwiseGradient(symbols: symbols, image: image, subject: subject, latentHeight: h, latentWidth: w,
                                       block: block) { reconstruction, target, rows, columns, gradient in
            let (height, width) = (reconstruction.shape[2], reconstruction.shape[3])
            let plane = height * width
            var sum = 0.0
            for c in 0..<3 {
                for y in rows {
                    for x in columns {
                        let i = c * plane + y * width + x
                        let v = reconstruction.data[i]
                        let e = min(max(v, 0), 1) - target.data[i]
                        sum += Double(e * e)
                        gradient[i] = v > 0 && v < 1 ? 2 * e : 0
                    }
                }
            }
            return sum
        }
        return (result.total, result.gradient)
    }

    /// The synthesis's Gauss–Newton matrix JᵀJ `[C, C]` averaged over the latent positions,
    /// estimated from one backward pass of ±1 noise on the image's samples (seeded: deterministic).
    static func curvaturePass(symbols: [Int32], image: Image, subject: Subject, latentHeight h: Int,
                              latentWidth w: Int, block: Int) -> [Float] {
        var generator = SplitMix64(seed: 0x5EED_C0DE)
        let probe = blockwiseGradient(symbols: symbols, image: image, subject: subject, latentHeight: h, latentWidth: w,
                                      block: block) { reconstruction, _, rows, columns, gradient in
            noiseProbe(reconstruction, rows, columns, &gradient, &generator)
            return 0
        }.gradient
        return averageOuterProduct(probe, channels: subject.codebooks.channels, positions: h * w)
    }

    /// What effort 0's latent model needs, measured once per image at the analysis output (every
    /// stage of a progressive model uses the same): the synthesis's average curvature H `[C, C]`
    /// there, as ``curvaturePass(symbols:image:subject:latentHeight:latentWidth:block:)`` estimates
    /// it, and the distortion of the unquantised latent's reconstruction, D_synthesis (same pass).
    struct LatentCurvature: Sendable {
        var matrix: [Float]
        var synthesisDistortion: Double
    }

    /// ``LatentCurvature`` of `analysis` `[C, h, w]`: one synthesis pass forward and back.
    static func latentCurvature(analysis: [Float], image: Image, subject: Subject, latentHeight h: Int,
                                latentWidth w: Int, block: Int) -> LatentCurvature {
        let channels = subject.codebooks.channels
        var generator = SplitMix64(seed: 0x5EED_C0DE)
        let (distortion, probe) = blockwiseGradient(
            channels: channels, image: image, subject: subject, latentHeight: h, latentWidth: w, block: block,
            outputGradient: { reconstruction, target, rows, columns, gradient in
                noiseProbe(reconstruction, rows, columns, &gradient, &generator)
                let plane = reconstruction.shape[2] * reconstruction.shape[3], width = reconstruction.shape[3]
                var sum = 0.0
                for c in 0..<3 {
                    for y in rows {
                        for x in columns {
                            let i = c * plane + y * width + x
                            let e = min(max(reconstruction.data[i], 0), 1) - target.data[i]
                            sum += Double(e * e)
                        }
                    }
                }
                return sum
            },
            latentOf: { outer in
                Tensor(shape: [1, channels, outer.height, outer.width],
                       data: Tiles.extract(analysis, groups: channels, latentWidth: w, latentHeight: h, rect: outer))
            })
        return LatentCurvature(matrix: averageOuterProduct(probe, channels: channels, positions: h * w),
                               synthesisDistortion: distortion)
    }

    /// Fills a block's own samples of `gradient` with seeded ±1 noise.
    private static func noiseProbe(_ reconstruction: Tensor, _ rows: Range<Int>, _ columns: Range<Int>,
                                   _ gradient: inout [Float], _ generator: inout SplitMix64) {
        let (height, width) = (reconstruction.shape[2], reconstruction.shape[3])
        let plane = height * width
        for c in 0..<3 {
            for y in rows {
                var bits: UInt64 = 0
                for (n, x) in columns.enumerated() {
                    if n % 64 == 0 { bits = generator.next() }
                    gradient[c * plane + y * width + x] = (bits >> UInt64(n % 64)) & 1 == 0 ? 1 : -1
                }
            }
        }
    }

    /// E[aaᵀ] `[C, C]` over the positions of `probe` `[C, positions]`, summed in Double in a fixed order.
    private static func averageOuterProduct(_ probe: [Float], channels: Int, positions: Int) -> [Float] {
        var curvature = [Float](repeating: 0, count: channels * channels)
        var sums = [Double](repeating: 0, count: channels * channels)
        for p in 0..<positions {
            for i in 0..<channels {
                let a = Double(probe[i * positions + p])
                for j in 0..<channels { sums[i * channels + j] += a * Double(probe[j * positions + p]) }
            }
        }
        for i in 0..<sums.count { curvature[i] = Float(sums[i] / Double(positions)) }
        return curvature
    }

    /// R (Σ −log2 p of `symbols` under the integer prior, in bits) and, for every position and
    /// group, the bits each of its `count` candidates would cost in its place with the same context.
    static func ratePass(symbols: [Int32], candidates: [Int32], count k: Int, subject: Subject, tiles: [LatentRect],
                         latentHeight h: Int, latentWidth w: Int, threads: Int) throws -> (bits: Double, candidateBits: [Float]) {
        let groups = subject.codebooks.groups
        let scale = Double(FrequencyTable.total)
        let perTile = try TileParallelism.map(count: tiles.count, threads: threads) { index -> (Double, [Float]) in
            let rect = tiles[index]
            let tile = Tiles.extract(symbols, groups: groups, latentWidth: w, latentHeight: h, rect: rect)
            var costs = [Float](repeating: 0, count: groups * rect.height * rect.width * k)
            var total = 0.0
            var n = 0
            subject.tables(rect, tile) { symbol, table in
                let (position, group) = (n / groups, n % groups)
                let (y, x) = (position / rect.width, position % rect.width)
                total -= log2(Double(table.frequency(of: symbol)) / scale)
                let options = ((group * h + rect.top + y) * w + rect.left + x) * k
                let out = ((group * rect.height + y) * rect.width + x) * k
                for slot in 0..<k {
                    costs[out + slot] = Float(-log2(Double(table.frequency(of: Int(candidates[options + slot]))) / scale))
                }
                n += 1
            }
            return (total, costs)
        }
        var bits = 0.0
        var candidateBits = [Float](repeating: 0, count: groups * h * w * k)
        for (index, (tileBits, costs)) in perTile.enumerated() {
            bits += tileBits
            let rect = tiles[index]
            for g in 0..<groups {
                for y in 0..<rect.height {
                    for x in 0..<rect.width {
                        let source = ((g * rect.height + y) * rect.width + x) * k
                        let target = ((g * h + rect.top + y) * w + rect.left + x) * k
                        for slot in 0..<k { candidateBits[target + slot] = costs[source + slot] }
                    }
                }
            }
        }
        return (bits, candidateBits)
    }
}
