import Foundation
import Engine
import Transforms
import SeededRandom

/// Speed measurements of the engine on this machine: matrix-product GFLOPS and the forward +
/// backward throughput of the reference VQ-VAE transforms. Run it from a release build
/// (`vqcodec bench engine`); debug builds are many times slower. Not a test: it asserts nothing.
public enum EngineBenchmark {
    /// Runs the measurements and returns a plain-text report.
    ///
    /// - batch, crop: the training batch, `[batch, 3, crop, crop]` images.
    /// - width, latentChannels, stride: the transforms (`TransformNetworks`).
    /// - repetitions: timed passes per measurement, after one warm-up pass; the best one counts.
    public static func run(
        batch: Int = 8, crop: Int = 128, width: Int = 128, latentChannels: Int = 64, stride: Int = 8,
        repetitions: Int = 5
    ) -> String {
        precondition(batch > 0 && crop % stride == 0 && repetitions > 0, "invalid benchmark settings")
        var report = "engine benchmark: \(Parallelism.cores) cores, BLAS kernel \(BLASKernel.name)\n"
        report += "SGEMM (row-major, all cores), GFLOPS:\n"
        let shapes: [(label: String, m: Int, n: Int, k: Int)] = [
            ("256³", 256, 256, 256), ("512³", 512, 512, 512), ("1024³", 1024, 1024, 1024),
            ("im2col 128×3200·3200×1024", 128, 1024, 3200),
        ]
        for shape in shapes {
            let gflops = gemmGFLOPS(m: shape.m, n: shape.n, k: shape.k, threads: Parallelism.cores)
            let single = gemmGFLOPS(m: shape.m, n: shape.n, k: shape.k, threads: 1)
            report += "  \(pad(shape.label, 28)) \(format(gflops)) (1 thread: \(format(single)))\n"
        }

        var generator = SplitMix64(seed: 1)
        let analysis = TransformNetworks.makeAnalysis(stride: stride, width: width, latentChannels: latentChannels,
                                                        using: &generator)
        let synthesis = TransformNetworks.makeSynthesis(stride: stride, width: width, latentChannels: latentChannels,
                                                          using: &generator)
        let images = Tensor.uniform(shape: [batch, 3, crop, crop], bound: 1, using: &generator)
        let latent = analysis.forward(images)

        report += "forward + backward, batch \(batch), \(crop)×\(crop) crops, N=\(width), D=\(latentChannels), "
            + "stride \(stride), images/s:\n"
        report += "  \(pad("", 22)) \(pad("batch split", 12)) \(pad("BLAS threads", 12))\n"
        let cases: [(String, Sequential, Tensor)] = [
            ("analysis", analysis, images),
            ("synthesis", synthesis, latent),
            ("analysis + synthesis", Sequential([analysis, synthesis]), images),
        ]
        for (label, net, input) in cases {
            let split = throughput(net, input, repetitions: repetitions, workers: Parallelism.cores)
            let blas = throughput(net, input, repetitions: repetitions, workers: 1)
            report += "  \(pad(label, 22)) \(pad(format(split), 12)) \(pad(format(blas), 12))\n"
        }

        report += "per layer (batch split), milliseconds per batch, forward / backward:\n"
        for (prefix, net, input) in [("analysis", analysis, images), ("synthesis", synthesis, latent)] {
            var x = input
            for (index, layer) in net.layers.enumerated() {
                let input = x
                var output = input
                let forward = bestSeconds(repetitions) { output = layer.forward(input) }
                let gradient = output
                let backward = bestSeconds(repetitions) { _ = layer.backward(gradient) }
                report += "  \(pad("\(prefix).\(index) \(describe(layer))", 36)) "
                    + "\(format(forward * 1000)) / \(format(backward * 1000))\n"
                x = output
            }
        }
        return report
    }

    private static func throughput(_ net: Sequential, _ input: Tensor, repetitions: Int, workers: Int) -> Double {
        Parallelism.$batchWorkers.withValue(workers) {
            let step = {
                let output = net.forward(input)
                _ = net.backward(output)
            }
            return Double(input.shape[0]) / bestSeconds(repetitions, step)
        }
    }

    private static func gemmGFLOPS(m: Int, n: Int, k: Int, threads: Int) -> Double {
        var generator = SplitMix64(seed: 2)
        let a = Tensor.uniform(shape: [m, k], bound: 1, using: &generator).data
        let b = Tensor.uniform(shape: [k, n], bound: 1, using: &generator).data
        var c = [Float](repeating: 0, count: m * n)
        setBLASThreadCount(threads)
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let repetitions = max(3, Int(2e9 / flops))
        let run = {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        gemm(transposeA: false, transposeB: false, m: m, n: n, k: k,
                             a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                             beta: 0, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return flops / bestSeconds(repetitions, run) / 1e9
    }

    /// The shortest wall-clock time of `repetitions` calls of `body`, after one warm-up call.
    /// The minimum, not the mean, because other processes on a small machine only ever add time.
    private static func bestSeconds(_ repetitions: Int, _ body: () -> Void) -> Double {
        body()
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<repetitions {
            let (s, attoseconds) = clock.measure(body).components
            best = min(best, Double(s) + Double(attoseconds) * 1e-18)
        }
        return best
    }

    private static func describe(_ layer: any Layer) -> String {
        switch layer {
        case let conv as Conv2d:
            let g = conv.geometry
            return "Conv \(conv.inputChannels)→\(conv.outputChannels) \(g.kernelHeight)×\(g.kernelWidth) s\(g.stride)"
        case let gdn as GDN: return gdn.inverse ? "IGDN \(gdn.channels)" : "GDN \(gdn.channels)"
        case let shuffle as PixelShuffle: return "PixelShuffle(\(shuffle.factor))"
        default: return String(describing: type(of: layer))
        }
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
