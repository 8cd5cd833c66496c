import ArgumentParser
import VQCodec

/// `--effort` and `--lambda`: how hard the encoder chooses its codes. The files decode with any vqcodec.
struct EffortOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "How hard to choose the codes: 0 (default) takes the nearest code to the analysis output; "
            + "1, 2 and 3 search more candidate codes, in more passes, for the codes that minimise pixel error "
            + "plus --lambda times bits (slower encode; smaller files at the same PSNR; any vqcodec decodes them).",
        valueName: "0-3"))
    var effort = 0

    @Option(name: .long, help: ArgumentHelp(
        "With --effort 1-3: what one bit per pixel is worth, in dB of PSNR. Larger values favour quality, "
            + "smaller ones smaller files; 0 minimises pixel error alone. Default: the rate-distortion curve's "
            + "slope at the image's rate, \(format(VQCodec.rateDistortionSlopeTimesRate, 1)) / bpp (10 at 0.25 bpp).",
        valueName: "dB per bpp"))
    var lambda: Double?

    func validate() throws {
        guard VQCodec.effortRange.contains(effort) else {
            throw ValidationError("--effort must be \(VQCodec.effortRange.lowerBound) to \(VQCodec.effortRange.upperBound)")
        }
        if let lambda {
            guard lambda.isFinite && lambda >= 0 && lambda <= 1000 else {
                throw ValidationError("--lambda must be a number of dB per bit per pixel from 0 to 1000")
            }
            guard effort > 0 else { throw ValidationError("--lambda needs --effort 1, 2 or 3") }
        }
    }

    /// Sets `options`' effort and trade-off.
    func apply(to options: inout VQCodec.EncodeOptions) {
        options.effort = effort
        options.rateDistortionSlope = lambda
    }
}
