// The one file in Engine that calls the C BLAS library (OpenBLAS through the CBLAS module on Linux,
// Accelerate on Apple platforms). Every other file calls `gemm` and `setBLASThreadCount` below;
// no C type or enum leaves this file.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Row-major single-precision matrix product `C = alpha · op(A) · op(B) + beta · C`
/// (`cblas_sgemm` with `CblasRowMajor`).
///
/// - `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`.
/// - `lda`, `ldb`, `ldc` are the row strides of the matrices as stored (before transposition).
/// - `beta == 0` overwrites `C` without reading it (BLAS semantics: NaNs already in `C` do not leak).
@inline(__always)
package func gemm(
    transposeA: Bool, transposeB: Bool,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "gemm dimensions must be non-negative")
    if m == 0 || n == 0 { return }
    cblas_sgemm(
        CblasRowMajor,
        transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k),
        alpha, a, Int32(lda), b, Int32(ldb),
        beta, c, Int32(ldc))
}

/// Sets how many threads one BLAS call may use (`openblas_set_num_threads`; a no-op with
/// Accelerate, which schedules its own threads). The setting is process-wide state inside the
/// C library, so it is only written when it differs from what the library reports
/// (`openblas_get_num_threads`), which keeps concurrent callers that ask for the same count from
/// racing on it.
package func setBLASThreadCount(_ count: Int) {
    precondition(count >= 1, "BLAS needs at least one thread")
    #if !canImport(Accelerate)
    if Int(openblas_get_num_threads()) != count {
        openblas_set_num_threads(Int32(count))
    }
    #endif
}

/// Single-threaded BLAS for the whole process, with OpenBLAS's idle worker threads stopped
/// (they spin for a while after the library loads, taking CPU time from the codec's threads;
/// measured on the 2-core machine: decoding kodim05 took 0.03 s longer with them, about 6 %).
/// The engine spreads its work over the cores itself, each piece with single-threaded BLAS;
/// only a batch split turned off (`Parallelism.batchWorkers` = 1, the engine benchmark's
/// comparison) asks BLAS for threads again, and OpenBLAS then starts them anew.
package func useSingleThreadedBLAS() {
    setBLASThreadCount(1)
    #if !canImport(Accelerate)
    vqcodec_stop_idle_blas_threads()
    #endif
}

/// Which of OpenBLAS's kernels runs the matrix products.
///
/// OpenBLAS picks its kernels from the CPU when the library loads, unless `OPENBLAS_CORETYPE`
/// names one. The choice matters: on the 2-core AMD EPYC (AVX-512) machine this project trains
/// on, the AVX-512 kernel ("SkylakeX", or "Cooperlake", which OpenBLAS 0.3.21 picks there by
/// itself) runs SGEMM 1.9 times as fast on one thread as the AVX2 kernel "Haswell" (237 against
/// 125 GFLOPS, `vqcodec bench engine`), and phase-I training 1.3 times as fast. Only
/// floating-point rounding differs between kernels; the integer prior that drives the range coder
/// does not use BLAS.
public enum BLASKernel {
    /// The kernel the library chose ("Haswell", "SkylakeX", …), or "Accelerate".
    public static var name: String {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
        #endif
    }
}
