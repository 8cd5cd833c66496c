import Foundation
import Prior
import RangeCoder
import SeededRandom

/// Measures the range coder on realistic tables: compression against the ideal code length, and
/// speed with and without building a table per symbol. Not a test: its figures depend on the
/// machine. `vqcodec bench coder` prints its report; run it from a release build.
public enum RangeCoderBenchmark {
    /// Runs every case with `symbolCount` symbols each and returns a plain-text report.
    ///
    /// Cases: K = 512 and K = 4096 tables shaped like a PixelCNN's outputs (discretised Laplacian
    /// or Gaussian, random centre, widths from 0.3 to K/4, a small floor everywhere), built from
    /// integer weights as the integer prior will build them; symbols are drawn from their own
    /// table. "Tables prebuilt" times coding alone (a pool of tables chosen per symbol);
    /// "with table build" also rebuilds the symbol's table from its weights into a reused buffer,
    /// as the codec does (on the first 2^28 / K symbols, to bound the run time). Every case
    /// checks the round trip, and the report says "FAILED" if it breaks.
    public static func run(symbolCount: Int = 1_000_000, seed: UInt64 = 1) -> String {
        precondition(symbolCount >= 1, "symbolCount must be positive")
        var report = "range coder benchmark: \(symbolCount) symbols per case, seed \(seed), "
            + "total 2^\(FrequencyTable.precisionBits)\n"
        report += runCase(symbolCount: 512, poolSize: 256, symbols: symbolCount, seed: seed)
        report += runCase(symbolCount: 4096, poolSize: 64, symbols: symbolCount, seed: seed &+ 1)
        return report
    }

    static func runCase(symbolCount k: Int, poolSize: Int, symbols count: Int, seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        let weightPool = (0..<poolSize).map { _ in realisticWeights(symbolCount: k, &rng) }
        let tablePool = weightPool.map { try! FrequencyTable(weights: $0) }
        var tableIndices = [Int](repeating: 0, count: count)
        var symbols = [Int](repeating: 0, count: count)
        var idealBits = 0.0
        for i in 0..<count {
            let t = Int(rng.next() % UInt64(poolSize))
            let table = tablePool[t]
            let s = table.symbol(containing: UInt32(truncatingIfNeeded: rng.next() >> 48))
            tableIndices[i] = t
            symbols[i] = s
            idealBits -= log2(Double(table.frequency(of: s)) / Double(FrequencyTable.total))
        }

        // Coding alone.
        var bytes: [UInt8] = []
        let encodeSeconds = seconds {
            var encoder = RangeEncoder(expectedByteCount: Int(idealBits / 8) + 64)
            for i in 0..<count { encoder.encode(symbol: symbols[i], table: tablePool[tableIndices[i]]) }
            bytes = encoder.finish()
        }
        var decoded = [Int](repeating: 0, count: count)
        var failure: String?
        let decodeSeconds = seconds {
            do {
                var decoder = try RangeDecoder(bytes: bytes)
                for i in 0..<count { decoded[i] = try decoder.decode(table: tablePool[tableIndices[i]]) }
            } catch {
                failure = "decoder threw: \(error)"
            }
        }
        if failure == nil, let bad = (0..<count).first(where: { decoded[$0] != symbols[$0] }) {
            failure = "symbol \(bad) decoded as \(decoded[bad]), expected \(symbols[bad])"
        }

        // Coding with one table build per symbol, into a reused table; on a prefix of the
        // symbols for large alphabets (about 2^28 table entries built per pass).
        let buildCount = min(count, (1 << 28) / k)
        var scratch = FrequencyTable(uniformOver: k)
        var prefixEncoder = RangeEncoder()
        for i in 0..<buildCount { prefixEncoder.encode(symbol: symbols[i], table: tablePool[tableIndices[i]]) }
        let prefixBytes = prefixEncoder.finish()
        var bytesWithBuild: [UInt8] = []
        let encodeBuildSeconds = seconds {
            var encoder = RangeEncoder(expectedByteCount: prefixBytes.count + 64)
            for i in 0..<buildCount {
                try! scratch.assign(weights: weightPool[tableIndices[i]])
                encoder.encode(symbol: symbols[i], table: scratch)
            }
            bytesWithBuild = encoder.finish()
        }
        if failure == nil && bytesWithBuild != prefixBytes { failure = "rebuilt tables gave different bytes" }
        let decodeBuildSeconds = seconds {
            do {
                var decoder = try RangeDecoder(bytes: bytesWithBuild)
                for i in 0..<buildCount {
                    try scratch.assign(weights: weightPool[tableIndices[i]])
                    decoded[i] = try decoder.decode(table: scratch)
                }
            } catch {
                failure = failure ?? "decoder with rebuilt tables threw: \(error)"
            }
        }
        if failure == nil && decoded[..<buildCount] != symbols[..<buildCount] {
            failure = "decoding with rebuilt tables gave wrong symbols"
        }

        // Table construction alone, from integer weights and from probabilities.
        let probabilityPool = weightPool.map { $0.map { Double($0) } }
        let weightBuildSeconds = seconds {
            for i in 0..<buildCount { try! scratch.assign(weights: weightPool[i % poolSize]) }
        }
        let probabilityBuildSeconds = seconds {
            for i in 0..<buildCount { scratch = try! FrequencyTable(probabilities: probabilityPool[i % poolSize]) }
        }

        let actualBits = Double(bytes.count * 8)
        let overheadBits = actualBits - idealBits
        func rate(_ n: Int, _ s: Double) -> String { format("%.2f M/s", Double(n) / s / 1e6) }
        var text = "\nK = \(k): \(poolSize) discretised Laplacian/Gaussian tables from integer weights\n"
        text += format("  ideal      %.1f bits (%.4f bits/symbol)\n", idealBits, idealBits / Double(count))
        text += format("  actual     %.0f bits (%d bytes)\n", actualBits, bytes.count)
        text += format("  overhead   %+.5f %% (%+.2f bytes)\n", 100 * overheadBits / idealBits, overheadBits / 8)
        text += "  encode     \(rate(count, encodeSeconds)) symbols, tables prebuilt\n"
        text += "  decode     \(rate(count, decodeSeconds)) symbols, tables prebuilt\n"
        text += "  encode     \(rate(buildCount, encodeBuildSeconds)) symbols, with table build (\(buildCount) symbols)\n"
        text += "  decode     \(rate(buildCount, decodeBuildSeconds)) symbols, with table build\n"
        text += "  build      \(rate(buildCount, weightBuildSeconds)) tables from integer weights, "
            + "\(rate(buildCount, probabilityBuildSeconds)) from probabilities\n"
        text += "  round trip \(failure.map { "FAILED: \($0)" } ?? "ok")\n"
        return text
    }

    /// Integer weights shaped like one softmax output of a PixelCNN: a discretised Laplacian or
    /// Gaussian with random centre and a width log-uniform in 0.3 … K/4, plus a floor of 2^-20
    /// of the peak so that no symbol is impossible. Scaled to 2^24 at the peak.
    static func realisticWeights(symbolCount k: Int, _ rng: inout SplitMix64) -> [UInt32] {
        let centre = rng.nextUniform() * Double(k)
        let width = 0.3 * pow(Double(k) / 4 / 0.3, rng.nextUniform())
        let gaussian = rng.next() & 1 == 0
        return (0..<k).map { i in
            let x = abs(Double(i) - centre) / width
            let shape = gaussian ? exp(-0.5 * x * x) : exp(-x)
            return UInt32((shape + 0x1p-20) * 0x1p24)
        }
    }

    static func seconds(_ body: () -> Void) -> Double {
        let elapsed = ContinuousClock().measure(body)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    static func format(_ pattern: String, _ arguments: CVarArg...) -> String {
        String(format: pattern, arguments: arguments)
    }
}
