import XCTest
import CIntegerKernels

/// The C kernels behind the integer prior: the run-time-selected path (AVX2 on CPUs that have it)
/// and the portable path must give the same bits as the definition, wrap-around included, for
/// every shape the loops split into blocks and tails.
final class IntegerKernelsTests: XCTestCase {
    /// A small deterministic generator (no dependency on the package's seeded generator).
    struct Values {
        var state: UInt64
        mutating func next() -> Int16 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int16(truncatingIfNeeded: state >> 40)
        }
    }

    /// c[i·ldc + j] &+= Σ a[i·lda + t] · w[j·ldw + t], in Swift.
    static func reference(m: Int, n: Int, k: Int, a: [Int16], lda: Int, w: [Int16], ldw: Int, c: inout [Int32], ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Int32 = 0
                for t in 0..<k { sum &+= Int32(a[i * lda + t]) &* Int32(w[j * ldw + t]) }
                c[i * ldc + j] &+= sum
            }
        }
    }

    func testEveryPathIsTheDefinition() {
        var values = Values(state: 7)
        var shapes = 0
        for m in [1, 2, 3, 4, 5, 8, 9] {
            for n in [1, 2, 3, 7, 8, 9, 17] {
                for k in [1, 5, 15, 16, 17, 31, 32, 48, 100, 192] {
                    // Overlapping input rows (a window sliding by `step`) and padded weight rows.
                    let step = max(1, k / 3)
                    let lda = shapes % 2 == 0 ? step : k + 3
                    let ldw = k + (shapes % 3)
                    let ldc = n + (shapes % 2)
                    let a = (0..<((m - 1) * lda + k)).map { _ in values.next() }
                    let w = (0..<((n - 1) * ldw + k)).map { _ in values.next() }
                    let start = (0..<(m * ldc)).map { _ in Int32(truncatingIfNeeded: Int(values.next()) << 12) }
                    var expected = start
                    Self.reference(m: m, n: n, k: k, a: a, lda: lda, w: w, ldw: ldw, c: &expected, ldc: ldc)
                    var fast = start, portable = start
                    vqk_gemm_accumulate(m, n, k, a, lda, w, ldw, &fast, ldc)
                    vqk_gemm_accumulate_portable(m, n, k, a, lda, w, ldw, &portable, ldc)
                    XCTAssertEqual(fast, expected, "m \(m) n \(n) k \(k)")
                    XCTAssertEqual(portable, expected, "m \(m) n \(n) k \(k)")
                    shapes += 1
                }
            }
        }
        XCTAssertEqual(shapes, 490)
    }

    /// The extreme products: −2^15 · −2^15 twice in one pair (vpmaddwd's wrapping corner) and sums
    /// that leave the Int32 range wrap exactly as Swift's `&+` does.
    func testWrapAroundMatchesSwift() {
        let k = 64
        let a = [Int16](repeating: .min, count: k)
        let w = [Int16](repeating: .min, count: k)
        var expected: [Int32] = [5]
        Self.reference(m: 1, n: 1, k: k, a: a, lda: k, w: w, ldw: k, c: &expected, ldc: 1)
        var fast: [Int32] = [5], portable: [Int32] = [5]
        vqk_gemm_accumulate(1, 1, k, a, k, w, k, &fast, 1)
        vqk_gemm_accumulate_portable(1, 1, k, a, k, w, k, &portable, 1)
        XCTAssertEqual(fast, expected)
        XCTAssertEqual(portable, expected)
        XCTAssertEqual(expected, [5])  // 64 · 2^30 = 2^36 ≡ 0 (mod 2^32)
    }

    /// The head's last step: rescale, clamp, softmax weights through the exp table.
    func testLogitWeightsAreTheDefinition() {
        var values = Values(state: 11)
        let expTable = (0..<300).map { Int32(1_000_000 >> min($0 / 10, 20)) + Int32($0 % 3) }
        for n in [1, 7, 8, 9, 16, 31, 512, 515] {
            for limit: Int32 in [1 << 24, 1000] {
                let sums = (0..<n).map { i -> Int32 in
                    i % 5 == 0 ? (i % 2 == 0 ? .min : .max) : Int32(truncatingIfNeeded: Int(values.next()) << (i % 17))
                }
                let multiplier = (0..<n).map { i in i % 4 == 0 ? Int64(Int32.max) : Int64(UInt16(bitPattern: values.next())) << (i % 15) }
                let shift = (0..<n).map { i in Int64(1 + (Int(UInt16(bitPattern: values.next())) + i) % 62) }
                // Definition, as Formats/prior.md states it.
                let logits = (0..<n).map { s -> Int64 in
                    let v = (Int64(sums[s]) * multiplier[s] + (1 << (shift[s] - 1))) >> shift[s]
                    return min(max(v, -Int64(limit)), Int64(limit))
                }
                let top = logits.max()!
                let last = Int64(expTable.count - 1)
                let expected = logits.map { UInt32(expTable[Int(min(top - $0, last))]) }
                var scratch = [Int32](repeating: 0, count: n), fast = [UInt32](repeating: 0, count: n)
                var portable = fast
                vqk_logit_weights(n, sums, multiplier, shift, limit, expTable, Int32(last), &scratch, &fast)
                XCTAssertEqual(scratch.map(Int64.init), logits, "n \(n)")
                vqk_logit_weights_portable(n, sums, multiplier, shift, limit, expTable, Int32(last), &scratch, &portable)
                XCTAssertEqual(fast, expected, "n \(n) limit \(limit)")
                XCTAssertEqual(portable, expected, "n \(n) limit \(limit)")
            }
        }
    }

    /// Which path this machine runs, for the test log (both are checked above either way).
    func testReportsItsPath() {
        let uses = vqk_uses_avx2()
        XCTAssertTrue(uses == 0 || uses == 1)
        print("integer kernels: \(uses == 1 ? "AVX2" : "portable C") on this CPU")
    }

    /// Integer arithmetic only: the kernels' C sources name no floating-point type.
    func testKernelsHoldNoFloatingPoint() throws {
        let folder = ModuleSeamTests.root.appendingPathComponent("Sources/CIntegerKernels")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: folder.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".c") || $0.hasSuffix(".h") }
        XCTAssertGreaterThanOrEqual(files.count, 2)
        let forbidden = ["float", "double", "__m256 ", "__m256d", "__m128 ", "__m128d", "_ps(", "_pd("]
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for word in forbidden {
                XCTAssertFalse(text.contains(word), "Sources/CIntegerKernels/\(file) contains \"\(word)\"")
            }
        }
    }
}
