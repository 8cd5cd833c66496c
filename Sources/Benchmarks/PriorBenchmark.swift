import Dispatch
import Foundation
import Prior
import IntegerPrior
import RangeCoder

/// Measures the integer prior's speed: incremental decoding (the decoder's path, one position and
/// group at a time, including every frequency table) and batch table building (the encoder's),
/// for a prior of the given configuration with randomly initialised weights (speed does not
/// depend on the weights' values). Not a test: its figures depend on the machine. Run from a
/// release build (`vqcodec bench prior`).
///
/// The tile's symbols are sampled from the prior itself while decoding, so the tables and symbols
/// are the model's own; the encode–decode round trip through the range coder is checked, and the
/// report says "FAILED" if it breaks.
public enum PriorBenchmark {
    /// - height, width: the tile in latent positions (the default is a 768×512 image at stride 8
    ///   as one tile).
    /// - threads: tiles decoded at once (the codec decodes tiles in parallel); each thread decodes
    ///   its own copy of the tile.
    public static func run(configuration: PriorConfiguration = PriorConfiguration(), height: Int = 64, width: Int = 96,
                           threads: Int = 2, seed: UInt64 = 1) -> String {
        precondition(height > 0 && width > 0 && threads > 0, "the tile and the thread count must be positive")
        let c = configuration
        var report = "prior benchmark: \(c.summary); tile \(height)×\(width) positions\n"
        report += String(format: "  multiply-adds per position: %.2f M\n", Double(multiplyAdds(c)) / 1e6)
        var frozen: IntegerPrior?
        let freezeSeconds = seconds { frozen = PixelCNNPrior(configuration: c, seed: seed).freeze() }
        let prior = frozen!
        report += String(format: "  freeze: %.2f s\n", freezeSeconds)
        let positions = Double(height * width)

        // Decode, sampling each symbol from its table.
        var random = seed
        var symbols: [Int32] = []
        let sampleSeconds = seconds {
            symbols = prior.decode(height: height, width: width) { table in
                random = random &* 6364136223846793005 &+ 1442695040888963407
                return table.symbol(containing: UInt32(truncatingIfNeeded: random >> 48))
            }
        }
        report += line("decode (tables, sampling)", seconds: sampleSeconds, positions: positions)

        // Encode in batch, then decode the stream.
        var bytes: [UInt8] = []
        let encodeSeconds = seconds {
            var encoder = RangeEncoder()
            prior.forEachTable(symbols: symbols, height: height, width: width) { symbol, table in
                encoder.encode(symbol: symbol, table: table)
            }
            bytes = encoder.finish()
        }
        report += line("encode (batch tables + coder)", seconds: encodeSeconds, positions: positions)
        var decoded: [Int32] = []
        var failure: String?
        let decodeSeconds = seconds {
            do {
                var decoder = try RangeDecoder(bytes: bytes)
                decoded = try prior.decode(height: height, width: width) { try decoder.decode(table: $0) }
            } catch {
                failure = "decoder threw \(error)"
            }
        }
        report += line("decode (tables + coder)", seconds: decodeSeconds, positions: positions)
        if failure == nil && decoded != symbols { failure = "decoded symbols differ from the encoded ones" }
        report += String(format: "  stream: %d bytes, %.3f bits per symbol\n", bytes.count,
                         Double(bytes.count * 8) / Double(symbols.count))

        if threads > 1 {
            let bytes = bytes
            let parallelSeconds = seconds {
                DispatchQueue.concurrentPerform(iterations: threads) { _ in
                    var decoder = try! RangeDecoder(bytes: bytes)
                    _ = try! prior.decode(height: height, width: width) { try decoder.decode(table: $0) }
                }
            }
            report += line("decode, \(threads) tiles on \(threads) threads", seconds: parallelSeconds,
                           positions: positions * Double(threads))
        }
        report += failure.map { "  FAILED: \($0)\n" } ?? "  round trip: ok\n"
        return report
    }

    /// Multiply-adds of one position (every group), counting only unmasked weights.
    static func multiplyAdds(_ c: PriorConfiguration) -> Int {
        let (g, k, e, ch, hk, kernel, head) = (c.groups, c.codebookSize, c.embeddingDimension, c.channels, c.reach,
                                              c.kernelSize, c.headChannels)
        var total = 0
        for b in 0..<c.blocks {
            let input = b == 0 ? g * e : ch
            let rows = b == 0 ? hk : hk + 1
            total += 2 * ch * rows * kernel * input                 // vertical
            total += 2 * ch * 2 * ch                                // link
            for group in 0..<g {                                    // horizontal, output
                let centre = (b == 0 ? group : group + 1) * input / g
                total += 2 * (ch / g) * (hk * input + centre) + (ch / g) * (group + 1) * (ch / g)
            }
        }
        for group in 0..<g {
            total += (head / g) * (group + 1) * (ch / g) + k * (group + 1) * (head / g)
        }
        return total
    }

    private static func line(_ name: String, seconds: Double, positions: Double) -> String {
        "  \(name): " + String(format: "%.3f s, %.0f positions/s, %.1f µs per position\n",
                                  seconds, positions / seconds, seconds / positions * 1e6)
    }

    private static func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
