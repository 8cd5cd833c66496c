import Container
import Foundation
import XCTest
@testable import VQCodec

/// `--effort`: the rate–distortion search chooses codes the plain decoder reads, lowers what it
/// promises to lower on real files, and is a deterministic function of its inputs.
final class CodeSearchTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func shippedDefault() throws -> CodecModel {
        try CodecModel(path: root.appendingPathComponent("Models/shipped/vq8-q4.safetensors").path)
    }

    static func photo() throws -> Image {
        try PNG.read(path: root.appendingPathComponent("Fixtures/images/photo-192x128.png").path)
    }

    /// On real files with the shipped default model: effort 2 gives a smaller file, or a better
    /// PSNR, or both, such that MSE + μ·bpp (μ the trade-off the search used) is lower than with
    /// the nearest codes; and the decoder returns exactly the symbols the search chose.
    func testEffortTwoLowersTheRealLagrangian() throws {
        let model = try Self.shippedDefault()
        let image = try Self.photo()
        var nearest = VQCodec.EncodeOptions()
        nearest.nearestCodes = true
        let plain = try VQCodec.evaluate(image, model: model, options: nearest)
        var options = VQCodec.EncodeOptions()
        options.effort = 2
        let searched = try VQCodec.evaluate(image, model: model, options: options)  // checks decoded symbols == encoded
        let (before, after) = Self.lagrangians(nearest: plain, searched: searched)
        XCTAssertLessThan(after, before * 0.99, "effort 2 lowers MSE + μ·bpp on the real file by more than 1 %: "
                          + "\(plain.bitsPerPixel) bpp \(plain.distortion.psnr) dB → \(searched.bitsPerPixel) bpp \(searched.distortion.psnr) dB")
    }

    /// MSE + μ·bpp of two encodings of one image, μ in MSE per bpp from the default slope at the
    /// nearest codes' rate: μ = slope · ln 10 / 10 · MSE₀.
    static func lagrangians(nearest: VQCodec.Evaluation, searched: VQCodec.Evaluation) -> (nearest: Double, searched: Double) {
        let slope = VQCodec.defaultRateDistortionSlope(bitsPerPixel: nearest.integerPriorBitsPerPixel)
        let mu = slope * log(10) / 10 * nearest.distortion.meanSquaredError
        return (nearest.distortion.meanSquaredError + mu * nearest.bitsPerPixel,
                searched.distortion.meanSquaredError + mu * searched.bitsPerPixel)
    }

    /// The search's own bookkeeping: J never rises, and what it reports is what the file holds.
    func testSearchReportsALowerCostThanTheNearestCodes() throws {
        let model = try Self.shippedDefault()
        let image = try Self.photo()
        let config = model.configuration
        let (h, w) = ((image.height + 7) / 8, (image.width + 7) / 8)
        let tiles = [LatentRect(top: 0, left: 0, height: h, width: w)]
        var effortOne = VQCodec.EncodeOptions()
        effortOne.effort = 1
        let plan = try XCTUnwrap(CodeSearch.Plan.forOptions(effortOne))
        let subject = CodeSearch.subject(of: image, model: model, latentHeight: h, latentWidth: w, block: 64)
        let (symbols, report) = try CodeSearch.symbols(of: image, subject: subject, tiles: tiles, latentHeight: h,
                                                       latentWidth: w, block: 64, plan: plan, slope: 10, threads: 2)
        let pixels = Double(image.width * image.height)
        let mu: Double = log(10.0) * report.initialDistortion / pixels
        let initialCost: Double = report.initialDistortion + mu * report.initialBits
        let finalCost: Double = report.finalDistortion + mu * report.finalBits
        XCTAssertLessThan(finalCost, initialCost)
        XCTAssertGreaterThan(report.changedSymbols, 0)
        XCTAssertEqual(report.finalBits, model.prior.bits(symbols: symbols, height: h, width: w), accuracy: 1e-6,
                       "the rate the search reports is the prior's for the symbols it returns")
        XCTAssertEqual(symbols.count, config.groups * h * w)
        // Slope 0 minimises distortion alone: the distortion falls, whatever the bits do.
        let (_, distortionOnly) = try CodeSearch.symbols(of: image, subject: subject, tiles: tiles, latentHeight: h,
                                                         latentWidth: w, block: 64, plan: plan, slope: 0, threads: 2)
        XCTAssertLessThan(distortionOnly.finalDistortion, distortionOnly.initialDistortion * 0.995)
    }

    /// Same image, model, effort and λ → same bytes, whatever the thread count.
    func testSearchIsDeterministic() throws {
        let model = try Self.shippedDefault()
        let image = try Self.photo()
        var options = VQCodec.EncodeOptions()
        options.effort = 1
        options.rateDistortionSlope = 8
        options.tileSize = 8
        options.threads = 1
        let one = try VQCodec.encode(image, model: model, options: options).bytes
        options.threads = 3
        let three = try VQCodec.encode(image, model: model, options: options).bytes
        XCTAssertTrue(one == three, "thread count changes nothing")
        var plain = VQCodec.EncodeOptions()
        plain.nearestCodes = true
        let nearest = try VQCodec.encode(image, model: model, options: plain).bytes
        XCTAssertNotEqual(one, nearest, "the search changed some codes")
    }

    /// `nearestCodes` is the plain quantiser, byte for byte, and every search starts from its codes.
    func testNearestCodesIsThePlainEncoder() throws {
        let model = try Self.shippedDefault()
        let image = try Self.photo()
        var options = VQCodec.EncodeOptions()
        options.nearestCodes = true
        let symbols = BlockTransforms.symbols(of: image, model: model, block: 64)
        XCTAssertEqual(try VQCodec.encode(image, model: model, options: options).symbols, symbols)
        // The search starts from exactly these codes, each the first of its candidates.
        let (h, w) = ((image.height + 7) / 8, (image.width + 7) / 8)
        let subject = CodeSearch.subject(of: image, model: model, latentHeight: h, latentWidth: w, block: 64)
        XCTAssertEqual(subject.nearest, symbols)
        let candidates = CodeSearch.nearestCandidates(target: subject.target, nearest: subject.nearest,
                                                      codebooks: subject.codebooks, latentHeight: h, latentWidth: w, count: 4)
        for (index, symbol) in symbols.enumerated() {
            XCTAssertEqual(candidates[index * 4], symbol)
            XCTAssertEqual(Set(candidates[(index * 4)..<(index * 4 + 4)]).count, 4, "four distinct candidates")
        }
    }

    /// Effort 0 (the default) on real files: it lowers the real MSE + μ·bpp against the nearest
    /// codes by more than 1 % with the default model and at the progressive model's first level,
    /// and gives smaller files at every level (a later level's file starts with the earlier
    /// levels' codes, chosen for their own rates, so its own MSE + μ·bpp is not what the search
    /// minimises); it gives the same bytes at every thread count, and it reports the nearest
    /// codes' measured bits.
    func testEffortZeroLowersTheRealLagrangian() throws {
        let image = try Self.photo()
        var plain = VQCodec.EncodeOptions()
        plain.nearestCodes = true
        let levelModel = try Self.shippedDefault()
        let progressive = try ProgressiveCodecModel(path: Self.root.appendingPathComponent("Models/shipped/vq8-rvq4.safetensors").path)
        var pairs: [(String, VQCodec.Evaluation, VQCodec.Evaluation)] = [
            ("vq8-q4", try VQCodec.evaluate(image, model: levelModel, options: plain),
             try VQCodec.evaluate(image, model: levelModel))]
        let plainStages = try VQCodec.evaluateStages(image, model: progressive, options: plain)
        let searchedStages = try VQCodec.evaluateStages(image, model: progressive)  // also checks every cut
        pairs.append(("vq8-rvq4 q1", plainStages[0], searchedStages[0]))
        for (k, (nearest, searched)) in zip(plainStages, searchedStages).enumerated() {
            XCTAssertLessThan(searched.bitsPerPixel, nearest.bitsPerPixel * 0.98, "vq8-rvq4 q\(k + 1)")
        }
        for (name, nearest, searched) in pairs {
            let (before, after) = Self.lagrangians(nearest: nearest, searched: searched)
            XCTAssertLessThan(after, before * 0.99, "\(name): \(nearest.bitsPerPixel) bpp \(nearest.distortion.psnr) dB → "
                              + "\(searched.bitsPerPixel) bpp \(searched.distortion.psnr) dB")
        }

        var options = VQCodec.EncodeOptions()
        options.threads = 1
        options.tileSize = 8
        let one = try VQCodec.encode(image, model: progressive, options: options).bytes
        options.threads = 3
        XCTAssertTrue(try VQCodec.encode(image, model: progressive, options: options).bytes == one,
                      "the thread count changes nothing")

        let (h, w) = ((image.height + 7) / 8, (image.width + 7) / 8)
        let tiles = [LatentRect(top: 0, left: 0, height: h, width: w)]
        let plan = try XCTUnwrap(CodeSearch.Plan.forOptions(VQCodec.EncodeOptions()))
        XCTAssertEqual(plan.distortion, .latent)
        let subject = CodeSearch.subject(of: image, model: levelModel, latentHeight: h, latentWidth: w, block: 64)
        let (symbols, report) = try CodeSearch.symbols(of: image, subject: subject, tiles: tiles, latentHeight: h,
                                                       latentWidth: w, block: 64, plan: plan, slope: 10, threads: 2)
        XCTAssertGreaterThan(report.changedSymbols, 0)
        XCTAssertLessThan(report.finalBits, report.initialBits, "at 10 dB per bpp the changes save bits")
        XCTAssertEqual(report.initialBits, levelModel.prior.bits(symbols: subject.nearest, height: h, width: w), accuracy: 1e-6)
        XCTAssertNotEqual(symbols, subject.nearest)
    }
}
