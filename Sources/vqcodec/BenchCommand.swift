import ArgumentParser
import RangeCoder

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of the codec's parts (figures, not pass/fail).",
        subcommands: [CoderBench.self])

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
}
