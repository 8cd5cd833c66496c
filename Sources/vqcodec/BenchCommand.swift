import ArgumentParser
import Benchmarks
import Engine
import Prior
import RangeCoder

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of the codec's parts (figures, not pass/fail).",
        subcommands: [CoderBench.self, EngineBench.self, PriorBench.self])

    struct CoderBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coder",
            abstract: "Range-coder overhead against the ideal code length, and symbols per second.",
            discussion: "Build with -c release for meaningful speeds.")

        @Option(help: "Symbols to code per table family.")
        var symbols = 1_000_000

        @Option(help: "Seed of the pseudo-random tables and symbols.")
        var seed: UInt64 = 1

        func validate() throws {
            guard symbols > 0 && symbols <= 100_000_000 else {
                throw ValidationError("--symbols must be between 1 and 100000000")
            }
        }

        func run() {
            print(RangeCoderBenchmark.run(symbolCount: symbols, seed: seed))
        }
    }

    struct EngineBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "engine",
            abstract: "SGEMM GFLOPS and forward+backward throughput of the VQ-VAE transforms.",
            discussion: "Compare with Tools/bench_torch.py (same architecture in PyTorch, same machine). Build with -c release.")

        @Option(help: "Batch size.") var batch = 8
        @Option(help: "Crop side in pixels (a multiple of the stride).") var crop = 128
        @Option(help: "Channels of the transforms.") var width = 128
        @Option(help: "Latent channels.") var latentChannels = 64
        @Option(help: "Stride (8 or 16).") var stride = 8
        @Option(help: "Timed repetitions.") var repetitions = 5

        func validate() throws {
            guard [2, 4, 8, 16, 32].contains(stride) else { throw ValidationError("--stride must be a power of two from 2 to 32") }
            guard crop > 0, crop % stride == 0, crop <= 1024 else { throw ValidationError("--crop must be a multiple of the stride, at most 1024") }
            guard (1...256).contains(batch), (1...1024).contains(width), (1...1024).contains(latentChannels), (1...100).contains(repetitions) else {
                throw ValidationError("--batch, --width, --latent-channels and --repetitions must be positive (batch ≤ 256, width ≤ 1024)")
            }
        }

        func run() {
            print(EngineBenchmark.run(batch: batch, crop: crop, width: width, latentChannels: latentChannels,
                                      stride: stride, repetitions: repetitions))
        }
    }

    struct PriorBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prior",
            abstract: "Integer prior speed: positions per second for batch (encoder) and incremental (decoder) evaluation.",
            discussion: "Build with -c release.")

        func run() {
            print(PriorBenchmark.run())
        }
    }
}
