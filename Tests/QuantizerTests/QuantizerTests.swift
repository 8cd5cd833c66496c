import SeededRandom
import XCTest
import Engine
@testable import Quantizer

final class QuantizerTests: XCTestCase {
    /// Latent `[n, G*d, h, w]` of seeded uniform values in [-1, 1).
    func randomLatent(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextUniform() * 2 - 1) })
    }

    /// The encoder's choice, one code at a time in Float: the rule `nearestSymbols` must follow bit
    /// for bit, whatever its vector width (it decides the bitstream).
    func scalarNearest(_ books: Codebooks, _ latent: Tensor) -> [Int32] {
        let (n, plane) = (latent.shape[0], latent.shape[2] * latent.shape[3])
        var symbols: [Int32] = []
        for b in 0..<n { for g in 0..<books.groups { for p in 0..<plane {
            var best = 0; var bestDistance = Float.infinity
            for k in 0..<books.codebookSize {
                var norm: Float = 0, dot: Float = 0
                for i in 0..<books.dimension {
                    let c = books.vectors[(g * books.codebookSize + k) * books.dimension + i]
                    norm += c * c
                    dot += latent.data[((b * books.channels) + g * books.dimension + i) * plane + p] * c
                }
                let d = norm - 2 * dot
                if d < bestDistance { bestDistance = d; best = k }
            }
            symbols.append(Int32(best))
        } } }
        return symbols
    }

    /// Eight codes per SIMD step give exactly the scalar choice: codebook sizes below, at and past
    /// a multiple of eight, duplicated codes (exact ties go to the lowest index), and latents that
    /// sit halfway between two codes.
    func testVectorisedSearchIsTheScalarRuleExactly() {
        var rng = SplitMix64(seed: 11)
        for (k, d) in [(2, 3), (8, 16), (13, 5), (512, 16), (37, 32)] {
            var vectors = (0..<(2 * k * d)).map { _ in Float(rng.nextUniform() * 2 - 1) }
            for i in 0..<d { vectors[(k - 1) * d + i] = vectors[i] }  // code k-1 duplicates code 0
            let books = Codebooks(groups: 2, codebookSize: k, dimension: d, vectors: vectors)
            var latent = randomLatent([2, 2 * d, 4, 5], seed: UInt64(k))
            for i in 0..<d { latent.data[i * 20] = (vectors[i] + vectors[d + i]) / 2 }  // between codes 0 and 1
            XCTAssertEqual(books.nearestSymbols(latent: latent), scalarNearest(books, latent), "K = \(k), d = \(d)")
        }
    }

    func testNearestSymbolsMatchesBruteForcePerGroup() {
        var rng = SplitMix64(seed: 7)
        let (g, k, d) = (3, 17, 4)
        let books = Codebooks(groups: g, codebookSize: k, dimension: d,
                              vectors: (0..<(g * k * d)).map { _ in Float(rng.nextUniform() * 2 - 1) })
        let latent = randomLatent([2, g * d, 3, 5], seed: 8)
        let symbols = books.nearestSymbols(latent: latent)
        XCTAssertEqual(symbols.count, 2 * g * 15)
        for b in 0..<2 { for group in 0..<g { for p in 0..<15 {
            var best = -1; var bestDistance = Double.infinity
            for code in 0..<k {
                var dist = 0.0
                for i in 0..<d {
                    let x = Double(latent.data[(b * g * d + group * d + i) * 15 + p])
                    let c = Double(books.vectors[(group * k + code) * d + i])
                    dist += (x - c) * (x - c)
                }
                if dist < bestDistance { bestDistance = dist; best = code }
            }
            XCTAssertEqual(Int(symbols[(b * g + group) * 15 + p]), best, "b \(b) g \(group) p \(p)")
        } } }
    }

    /// The candidates of the rate–distortion search: the `count` nearest codes in order of distance
    /// (equal distances: lower index first), per group and position.
    func testNearestCandidatesAreTheClosestCodesInOrder() {
        var rng = SplitMix64(seed: 21)
        let (g, k, d, count) = (2, 40, 3, 6)
        var vectors = (0..<(g * k * d)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        for i in 0..<d { vectors[7 * d + i] = vectors[3 * d + i] }  // code 7 duplicates code 3
        let books = Codebooks(groups: g, codebookSize: k, dimension: d, vectors: vectors)
        let latent = randomLatent([1, g * d, 3, 4], seed: 22)
        let candidates = books.nearestCandidates(latent: latent, count: count)
        XCTAssertEqual(candidates.count, g * 12 * count)
        for group in 0..<g { for p in 0..<12 {
            let distances = (0..<k).map { code -> Float in
                var sum: Float = 0
                for i in 0..<d {
                    let e = latent.data[(group * d + i) * 12 + p] - vectors[(group * k + code) * d + i]
                    sum += e * e
                }
                return sum
            }
            let expected = (0..<k).sorted { distances[$0] < distances[$1] || (distances[$0] == distances[$1] && $0 < $1) }
            XCTAssertEqual(candidates[((group * 12 + p) * count)..<((group * 12 + p + 1) * count)].map(Int.init),
                           Array(expected.prefix(count)), "group \(group) position \(p)")
        } }
    }

    func testLatentOfSymbolsIsTheCodebookVectors() {
        let books = Codebooks(groups: 2, codebookSize: 3, dimension: 2,
                              vectors: [0, 0, 1, 1, 2, 2, /* group 1 */ 10, 11, 12, 13, 14, 15])
        // n=1, G=2, h=1, w=2: group 0 symbols [2, 0], group 1 symbols [1, 2]
        let latent = books.latent(symbols: [2, 0, 1, 2], batch: 1, height: 1, width: 2)
        XCTAssertEqual(latent.shape, [1, 4, 1, 2])
        XCTAssertEqual(latent.data, [2, 0, 2, 0, 12, 14, 13, 15])
        XCTAssertEqual(books.nearestSymbols(latent: latent), [2, 0, 1, 2], "codebook vectors quantise to themselves")
    }

    func testUsageCountsCodesAndPerplexity() {
        // G=2, plane=4: group 0 uses codes 0,1,2,3 uniformly; group 1 only code 5.
        let usage = CodebookUsage(symbols: [0, 1, 2, 3, 5, 5, 5, 5], groups: 2, plane: 4, codebookSize: 8)
        XCTAssertEqual(usage.codesUsed, [4, 1])
        XCTAssertEqual(usage.perplexity[0], 4, accuracy: 1e-9)
        XCTAssertEqual(usage.perplexity[1], 1, accuracy: 1e-9)
        XCTAssertEqual(usage.summary, "codes 4/8 1/8, ppl 4 1")
    }

    func testCombinedUsageCountsACodeUsedByAnyPart() {
        // Group 0: codes 0,1 in the first image, 1,2 in the second; group 1: code 7, then 7 again.
        let a = CodebookUsage(symbols: [0, 1, 7, 7], groups: 2, plane: 2, codebookSize: 8)
        let b = CodebookUsage(symbols: [1, 2, 7, 7], groups: 2, plane: 2, codebookSize: 8)
        let all = CodebookUsage.combined([a, b])
        XCTAssertEqual(all?.codesUsed, [3, 1])
        XCTAssertEqual(all?.counts[0], [1, 2, 1, 0, 0, 0, 0, 0])
        XCTAssertEqual(all?.counts[1][7], 4)
        XCTAssertNil(CodebookUsage.combined([]))
        let other = CodebookUsage(symbols: [0, 1], groups: 1, plane: 2, codebookSize: 8)
        XCTAssertNil(CodebookUsage.combined([a, other]), "different group counts cannot be combined")
    }

    func testEMATrainingKeepsEveryCodeAliveAndFitsTheData() {
        // Data: 8 well-separated 2-D clusters; a 16-code book must end up using its codes and
        // quantising with small error, with dead codes restarted onto the data.
        var rng = SplitMix64(seed: 3)
        let quantizer = EMAQuantizer(groups: 1, codebookSize: 16, dimension: 2, decay: 0.9,
                                     commitment: 0.25, deadCodeThreshold: 0.05, seed: 1)
        var lastLoss: Float = .infinity
        var usage: CodebookUsage?
        for _ in 0..<200 {
            var data = [Float](repeating: 0, count: 2 * 64)
            for p in 0..<64 {
                let cluster = Int(rng.next() % 8)
                let angle = Double(cluster) * .pi / 4
                data[p] = Float(cos(angle) * 4 + (rng.nextUniform() - 0.5) * 0.2)
                data[64 + p] = Float(sin(angle) * 4 + (rng.nextUniform() - 0.5) * 0.2)
            }
            let step = quantizer.quantize(Tensor(shape: [1, 2, 8, 8], data: data), training: true)
            lastLoss = step.commitmentLoss
            usage = step.usage
        }
        XCTAssertLessThan(lastLoss, 0.25 * 0.01, "mean squared quantisation error must be tiny on clustered data")
        XCTAssertGreaterThanOrEqual(usage!.codesUsed[0], 8, "every cluster has a code")
        XCTAssertEqual(quantizer.clusterSize.filter { $0 < quantizer.deadCodeThreshold }.count, 0,
                       "dead codes are restarted")
    }

    func testLatentGradientIsStraightThroughPlusCommitment() {
        let quantizer = EMAQuantizer(groups: 1, codebookSize: 2, dimension: 1, commitment: 0.5)
        let latent = Tensor(shape: [1, 1, 1, 2], data: [1.0, -2.0])
        let quantized = Tensor(shape: [1, 1, 1, 2], data: [0.5, -1.0])
        let upstream = Tensor(shape: [1, 1, 1, 2], data: [0.1, 0.2])
        let g = quantizer.latentGradient(latent: latent, quantized: quantized, quantizedGradient: upstream)
        // d/dL of β·mean((L − L̂)²) = 2β(L − L̂)/count = (L − L̂)/2 here.
        XCTAssertEqual(g.data[0], 0.1 + 0.25, accuracy: 1e-6)
        XCTAssertEqual(g.data[1], 0.2 - 0.5, accuracy: 1e-6)
    }

    func testTrainingIsReproducibleFromTheSeed() {
        func run() -> [Float] {
            let q = EMAQuantizer(groups: 2, codebookSize: 8, dimension: 2, seed: 42)
            for s in 0..<5 { _ = q.quantize(randomLatent([2, 4, 4, 4], seed: UInt64(s)), training: true) }
            return q.codebooks.vectors
        }
        XCTAssertEqual(run(), run())
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class QuantizerRestartTests: XCTestCase {
    func testCodesUnusedForThePatienceAreRestartedOntoTheData() {
        // All data sits near (5, 5); after initialisation, one code is moved far away. With a
        // patience of 3 it must be back among the data after 3 steps, long before its EMA count decays.
        let q = EMAQuantizer(groups: 1, codebookSize: 4, dimension: 2, decay: 0.99, deadCodeThreshold: 0.001,
                             restartPatience: 3, seed: 9)
        var rng = SplitMix64(seed: 1)
        func batch() -> Tensor {
            Tensor(shape: [1, 2, 4, 4], data: (0..<32).map { _ in Float(5 + rng.nextUniform() - 0.5) })
        }
        _ = q.quantize(batch(), training: true)
        var books = q.codebooks
        books.vectors[6] = -100; books.vectors[7] = -100
        q.restore(codebooks: books, clusterSize: q.clusterSize, clusterSum: q.clusterSum.enumerated().map { $0.offset >= 6 ? -100 : $0.element })
        for step in 1...3 {
            _ = q.quantize(batch(), training: true)
            if step < 3 { XCTAssertEqual(q.stepsUnused[3], step, "code 3 counts its idle steps") }
        }
        XCTAssertEqual(q.stepsUnused[3], 0)
        XCTAssertEqual(q.codebooks.vectors[6], 5, accuracy: 0.5, "restarted onto an encoder output")
        XCTAssertEqual(q.codebooks.vectors[7], 5, accuracy: 0.5)
    }

    func testReseedMakesRestartsAFunctionOfTheSeed() {
        func run(_ seed: UInt64) -> [Float] {
            let q = EMAQuantizer(groups: 1, codebookSize: 8, dimension: 2, restartPatience: 1, seed: 1)
            var rng = SplitMix64(seed: 4)
            for _ in 0..<4 {
                q.reseed(seed)
                _ = q.quantize(Tensor(shape: [1, 2, 2, 2], data: (0..<8).map { _ in Float(rng.nextUniform()) }), training: true)
            }
            return q.codebooks.vectors
        }
        XCTAssertEqual(run(3), run(3))
        XCTAssertNotEqual(run(3), run(4))
    }
}
