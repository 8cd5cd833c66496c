import ArgumentParser
import VQCodec

/// `--effort`, `--lambda` and `--nearest-codes`: how the encoder chooses its codes. The files
/// decode with any vqcodec.
struct EffortOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "How hard to choose the codes for the least pixel error plus --lambda times bits: 0 (default) weighs "
            + "each position's 8 nearest codes by a model of the synthesis and their exact bits; 1, 2 and 3 "
            + "search more candidate codes, in more passes, through the synthesis itself (slower encode; smaller "
            + "files at the same PSNR; any vqcodec decodes them).",
        valueName: "0-3"))
    var effort = 0

    @Option(name: .long, help: ArgumentHelp(
        "What one bit per pixel is worth, in dB of PSNR. Larger values favour quality, smaller ones smaller "
            + "files; 0 minimises pixel error alone. Default: the rate-distortion curve's slope at the image's "
            + "rate, \(format(VQCodec.rateDistortionSlopeTimesRate, 1)) / bpp (10 at 0.25 bpp).",
        valueName: "dB per bpp"))
    var lambda: Double?

    @Flag(name: .long, help: ArgumentHelp(
        "Take the code nearest to the analysis output everywhere, whatever its bits: the fastest encode, "
            + "larger files (not with --effort 1-3 or --lambda)."))
    var nearestCodes = false

    func validate() throws {
        guard VQCodec.effortRange.contains(effort) else {
            throw ValidationError("--effort must be \(VQCodec.effortRange.lowerBound) to \(VQCodec.effortRange.upperBound)")
        }
        if let lambda {
            guard lambda.isFinite && lambda >= 0 && lambda <= 1000 else {
                throw ValidationError("--lambda must be a number of dB per bit per pixel from 0 to 1000")
            }
        }
        if nearestCodes && effort > 0 {
            throw ValidationError("--nearest-codes is the plain quantiser; --effort \(effort) searches: give one of them")
        }
        if nearestCodes && lambda != nil {
            throw ValidationError("--nearest-codes ignores bits, so --lambda has nothing to weigh: give one of them")
        }
    }

    /// Sets `options`' effort, trade-off and quantiser.
    func apply(to options: inout VQCodec.EncodeOptions) {
        options.effort = effort
        options.rateDistortionSlope = lambda
        options.nearestCodes = nearestCodes
    }
}
